"""The shipped checkpoints load offline and keep the promises of their model cards."""

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import latent_bridge as lb
from latent_bridge.data.datasets import load_dataset
from latent_bridge.models import CHECKPOINTS_DIR
from latent_bridge.models.small_vae import SmallVAE

NAMES = ["digits", "fashion", "poses"]
# The same, for tests that read a model's held-out images: Fashion-MNIST's come from Debian.
WITH_DATA = ["digits", pytest.param("fashion", marks=pytest.mark.system_package("dataset-fashion-mnist")), "poses"]


@lru_cache(maxsize=None)
def held_out_split(name):
    """The held-out images, which training never sees."""
    return load_dataset(name, "test")


def held_out(name):
    """A few hundred held-out images, enough for the MSE and fast."""
    images = held_out_split(name)
    return images[:: max(1, len(images) // 300)]


def metrics(name):
    return json.loads((CHECKPOINTS_DIR / name / "metrics.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_loads_by_name_offline(name):
    vae = lb.models.load(name)
    assert isinstance(vae, SmallVAE) and vae.name == name and vae.description
    latents = vae.training_latents()
    assert latents.dtype == torch.float32 and latents.shape[1:] == vae.latent_shape
    assert 4 <= len(vae.example_images()) <= 8


@pytest.mark.parametrize("name", WITH_DATA)
def test_checkpoint_meets_its_stated_held_out_error(name):
    vae = SmallVAE.from_pretrained(CHECKPOINTS_DIR / name)
    images = held_out(name)
    per_image = (vae.decode(vae.encode(images)) - images).pow(2).flatten(1).mean(1)
    # metrics.json holds the MSE over the whole test split; this subsample's mean may lie
    # above it by sampling alone, so allow 3 standard errors of the subsample mean.
    margin = 3 * per_image.std().item() / math.sqrt(len(per_image))
    assert per_image.mean().item() <= metrics(name)["heldout_mse"] + margin


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_beats_the_mean_image_clearly(name):
    # What planning measured with the same budgets: 40 %, 13 % and 4.4 % of the baseline.
    limit = {"digits": 0.45, "fashion": 0.15, "poses": 0.05}[name]
    assert metrics(name)["mse_ratio_to_mean_image"] < limit


@pytest.mark.parametrize("name", WITH_DATA)
def test_examples_are_held_out_images(name):
    vae = lb.models.load(name)
    test = held_out_split(name).flatten(1)
    for path in vae.example_images():
        pixels = torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32) / 255)
        # PNGs hold 8-bit pixels: equal to a held-out image up to rounding.
        assert (test - pixels.flatten()).abs().amax(1).min() <= 0.5 / 255 + 1e-6, path.name


def test_checkpoints_folder_stays_small():
    size = sum(p.stat().st_size for p in CHECKPOINTS_DIR.rglob("*") if p.is_file())
    assert size < 30e6


def test_checkpoints_sit_at_the_top_and_are_found_through_the_package():
    import latent_bridge
    import latent_bridge.checkpoints

    # The design card's top level; the wheel maps the folder into the package (test_packaging).
    assert CHECKPOINTS_DIR == Path(__file__).resolve().parents[1] / "checkpoints"
    assert latent_bridge.checkpoints.CHECKPOINTS_DIR is CHECKPOINTS_DIR
    assert not (Path(latent_bridge.__file__).parent / "checkpoints").exists()  # one copy
    assert lb.models.CHECKPOINTS_DIR is CHECKPOINTS_DIR  # one home, re-exported by the models
    assert lb.models.load("poses").folder == CHECKPOINTS_DIR / "poses"


def test_loading_prints_nothing(capsys):
    # huggingface_hub's mixin prints "Loading weights from local directory" on stdout.
    SmallVAE.from_pretrained(CHECKPOINTS_DIR / "digits")
    lb.models.load("poses")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_embedded_models_refuse_a_missing_cuda_device_as_hub_models_do(device):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        lb.models.load("digits", device=device)


def test_embedded_models_take_device_auto():
    vae = lb.models.load("digits", device="auto")
    assert vae.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_small_vae_reads_safetensors_only(tmp_path):
    SmallVAE(image_size=32, latent_dim=2, widths=(8, 8, 8)).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError):
        SmallVAE.from_pretrained(tmp_path)
