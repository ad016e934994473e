"""What a visitor with a photo meets: the page opens on a photo model when one is at hand
(decided offline at start-up), and a photo given to a model that cannot represent it gets a
notice naming what to do, on the page and in the API's result."""

import importlib
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest
from gradio_client import Client, handle_file

import latent_bridge as lb
from servers import serving
from tiny_hub import sd_pair_cache

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "assets" / "photos").glob("*.jpg"))
SMALL = dict(t=0.5, frames=6, paths=1, seed=0, fps=8)


@pytest.fixture
def fresh_app(tmp_path, monkeypatch):
    """A function (cache folder) -> the app layer imported afresh with that Hugging Face cache,
    as a Space starts after ``preload_from_hub``: (its ui module, its models module)."""

    def start(cache: Path):
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
        for name in [name for name in sys.modules if name.startswith("latent_bridge.app")]:
            monkeypatch.delitem(sys.modules, name)
        lb.models.clear_cache()
        return importlib.import_module("latent_bridge.app.ui"), importlib.import_module("latent_bridge.app.models")

    yield start
    lb.models.clear_cache()


def first_model_value(demo) -> str:
    config = demo.get_config_file()
    values = [c["props"]["value"] for c in config["components"] if c.get("props", {}).get("elem_id") == "interpolate-model"]
    return values[0]


def example_labels(demo, prefix: str) -> list[str]:
    config = demo.get_config_file()
    (dataset,) = [c for c in config["components"] if c.get("props", {}).get("elem_id") == f"{prefix}-examples"]
    return dataset["props"]["sample_labels"]


def test_the_page_opens_on_a_cached_photo_model_with_the_photo_examples(fresh_app, tmp_path):
    ui, models = fresh_app(sd_pair_cache(tmp_path / "hub", tmp_path / "saved"))
    # On this CPU: SD's KL-VAE, its frames decoded by TAESD (fast preview starts ticked).
    assert models.DEFAULT_MODEL == lb.models.best_local_model(cuda=False) == "sd-vae"
    assert models.FAST_PREVIEW_DEFAULT and models.model_options("sd-vae") == {"fast_decoder": True}
    demo = ui.build_demo()
    assert first_model_value(demo) == "sd-vae"
    labels = example_labels(demo, "interpolate")
    assert labels[0].startswith("sd-vae: ") and any(label.startswith("poses: ") for label in labels)


def test_with_an_empty_cache_the_page_opens_on_poses_without_photo_examples(fresh_app, tmp_path):
    ui, models = fresh_app(tmp_path / "empty")
    assert models.DEFAULT_MODEL == "poses" and not models.photo_model_usable()
    assert models.model_options("sd-vae") == {}  # offline without TAESD: no fast decoder to load
    demo = ui.build_demo()
    assert first_model_value(demo) == "poses"
    assert not any(label.split(":")[0] in models.PHOTO_MODELS for label in example_labels(demo, "walk"))


def test_a_photo_through_poses_comes_back_with_a_notice(app_server):
    """A 600 x 400 colour photo through the stick-figure model: the result's summary starts with
    the notice (what the model knows, what to pick), the diagnostics are still there."""
    client = Client(app_server[1], verbose=False, analytics_enabled=False)
    photo = handle_file(str(PHOTOS[0]))
    *_, summary, diagnostics = client.predict(model="poses", image_a=photo, image_b=handle_file(str(PHOTOS[1])),
                                              method="ou", **SMALL, api_name="/interpolate")
    assert summary.startswith("⚠️ **image A, image B do not look like what `poses` knows**"), summary
    assert "(stick figures)" in summary and "pick `sd-vae` or `taesd`" in summary and "in colour" in summary
    assert diagnostics["frames"] == SMALL["frames"]
    *_, summary, _ = client.predict(model="poses", image=photo, method="gp", **SMALL, api_name="/random_walk")
    assert "image does not look like what `poses` knows" in summary
    pose = handle_file(str(lb.models.load_cached("poses").example_images()[0]))
    *_, summary, _ = client.predict(model="poses", image=pose, method="gp", **SMALL, api_name="/random_walk")
    assert "look like" not in summary  # the model's own kind of image: no notice
