"""Test configuration: no network, deterministic, quiet.

HF_HUB_OFFLINE must be set before huggingface_hub is imported anywhere: without it every
load of an uncached repo spends ~20 s on network retries.

A test that needs an optional Debian package says so with
``@pytest.mark.system_package("dataset-fashion-mnist")`` and is skipped, with a reason
naming the package, where it is missing (``.ci/run`` installs them all).
"""

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from servers import serving  # noqa: E402


def _fashion_mnist_present() -> bool:
    from latent_bridge.data.fashion import fashion_dir

    return all((fashion_dir() / f"{split}-images-idx3-ubyte.gz").is_file() for split in ("train", "t10k"))


# Optional Debian packages: {name: whether it is usable here}.
SYSTEM_PACKAGES = {
    "dataset-fashion-mnist": _fashion_mnist_present,  # honours LATENT_BRIDGE_FASHION_DIR
    "chromium": lambda: Path("/usr/bin/chromium").exists(),
}


def pytest_collection_modifyitems(config, items):
    present = {}
    for item in items:
        for marker in item.iter_markers("system_package"):
            (name,) = marker.args
            if name not in SYSTEM_PACKAGES:
                raise pytest.UsageError(f"unknown system package {name!r}; known: {', '.join(SYSTEM_PACKAGES)}")
            if name not in present:
                present[name] = SYSTEM_PACKAGES[name]()
            if not present[name]:
                item.add_marker(pytest.mark.skip(reason=f"Debian's {name} is not installed (apt-get install {name})"))


@pytest.fixture
def generator():
    """A fresh seeded generator for each test."""
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="module")
def app_server():
    """app.py served on a free local port, one server per test module (starting Gradio costs
    seconds): (the app module, its URL)."""
    import app

    with serving(app) as url:
        yield app, url
