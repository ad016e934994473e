"""The Gradio app's layer over the library (gradio is imported only here; the library never
imports it). One request flows one way: ``jobs.read_job`` checks every value once into a
``Job`` (``limits``, ``costs``, ``controls``, ``models``), ``handlers`` renders it and
formats what the page shows; ``ui`` lays out the page; ``guards`` (with ``visitors``,
``cache``, ``storage`` and ``connections``) bound what a client can make the server hold, each
visitor to a fair share. ``app.py`` at the repository root builds and serves it.
"""

from .ui import build_demo, launch

__all__ = ["build_demo", "launch"]
