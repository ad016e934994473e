"""Local servers for the tests and benchmarks: a free port, and the app served on one.

Imported as ``servers`` (pytest puts tests/ on sys.path; benchmarks/load_app.py adds it).
"""

import socket
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at this moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app):
    """The app module (``import app``) served on a free local port; yields its URL, closes it on exit.

    Started with ``app.launch``, not ``app.demo.launch``: the app's upload limit and the
    upload-budget middleware are installed there.
    """
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.demo.close()
