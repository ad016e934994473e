"""An image a model cannot represent is told apart from the model's own kind of image."""

from pathlib import Path

import pytest
import torch

import latent_bridge as lb
from latent_bridge.data.datasets import load_dataset

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "assets" / "photos").glob("*.jpg"))


def check(vae, path):
    image = lb.pipeline.prepare_image(vae, str(path), "image")
    rgb = lb.data.load_image(str(path), 64, channels=3)[None]
    return lb.familiarity.familiarity(vae, image, rgb)


@pytest.mark.parametrize("name", ["digits", "poses"])
def test_the_models_own_images_are_familiar_and_photos_are_not(name):
    vae = lb.models.load_cached(name)
    assert vae.heldout_metrics()["heldout_mse_p99"] > 0  # recorded with the checkpoint
    for path in vae.example_images():
        fit = check(vae, path)
        assert fit.familiar, (path.name, fit)
    for path in PHOTOS:
        fit = check(vae, path)
        assert not fit.familiar and fit.reason(), (path.name, fit)
    assert len(PHOTOS) == 4


def test_held_out_images_are_rarely_flagged():
    # 2,000 held-out poses, none seen in training: the threshold (2.5x their 99th percentile)
    # leaves all but a few of them familiar.
    vae = lb.models.load_cached("poses")
    images = load_dataset("poses", "test")[:500]
    typical = vae.heldout_metrics()["heldout_mse_p99"]
    with torch.inference_mode():
        errors = (vae.decode(vae.encode(images)) - images).pow(2).flatten(1).mean(1)
    flagged = (errors > lb.familiarity.ERROR_FACTOR * typical).float().mean().item()
    assert flagged < 0.01


def test_a_grey_image_is_not_called_colourful():
    grey = torch.rand(1, 1, 32, 32).expand(1, 3, 32, 32)
    assert lb.familiarity.colourfulness(grey) < 1e-6
    assert lb.familiarity.colourfulness(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 8, 8)) > 0.3


def test_models_without_heldout_figures_are_not_judged_by_error():
    fit = lb.familiarity.Familiarity(error=1.0, typical=None)
    assert fit.familiar and fit.reason() == ""
