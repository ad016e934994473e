"""latent-bridge in the browser: interpolate, loop and compare in a VAE's latent space.

Run it with ``python app.py`` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT; ``--share``
asks Gradio for a public link). On a Hugging Face Space the same file is the entry point.
The page, its events and the server's bounds live in ``latent_bridge.app``.

Public endpoints (``gradio_client``): ``/interpolate``, ``/random_walk``, ``/compare``, ``/keyframes``.
"""

from __future__ import annotations

import argparse
import os

from latent_bridge.app import build_demo
from latent_bridge.app import launch as serve

demo = build_demo()


def launch(**options):
    """Serve the page with the app's guards (upload and body sizes, the cache budget)."""
    return serve(demo, **options)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the latent-bridge app.")
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a public share link")
    args = parser.parse_args(argv)
    port = os.environ.get("GRADIO_SERVER_PORT")
    launch(share=args.share, server_name=os.environ.get("GRADIO_SERVER_NAME"),
           server_port=int(port) if port else None)


if __name__ == "__main__":
    main()
