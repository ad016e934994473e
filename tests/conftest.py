"""Test configuration: no network, deterministic, quiet.

HF_HUB_OFFLINE must be set before huggingface_hub is imported anywhere: without it every
load of an uncached repo spends ~20 s on network retries.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def generator():
    """A fresh seeded generator for each test."""
    return torch.Generator().manual_seed(0)
