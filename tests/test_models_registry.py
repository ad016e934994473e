"""The model registry: names, aliases, what load() accepts and refuses, and the bounded model cache."""

import sys
import threading
import time
import types

import pytest
import torch
from huggingface_hub import PyTorchModelHubMixin

import latent_bridge as lb
from latent_bridge import models
from latent_bridge.models import ModelUnavailableError


def test_available_lists_embedded_models_first_then_hub_aliases():
    listed = models.available()
    assert [name for name, _, _ in listed[:3]] == ["digits", "fashion", "poses"]
    assert all(kind == "embedded" for _, _, kind in listed[:3])
    assert {name for name, _, kind in listed if kind == "hub"} == {"sd-vae", "taesd", "sdxl-vae", "taesdxl"}
    assert all(isinstance(text, str) and text and "\n" not in text for _, text, _ in listed)


def test_unknown_short_name_lists_what_is_available():
    with pytest.raises(ValueError, match=r"unknown model 'digit'.*digits, fashion, poses, sd-vae"):
        models.load("digit")


def test_missing_embedded_checkpoint_says_how_to_train_it(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "CHECKPOINTS_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"python -m latent_bridge.train poses"):
        models.load("poses")


def test_local_folders_can_be_refused(tmp_path):
    with pytest.raises(ValueError, match="local folders are not allowed"):
        models.load(tmp_path, allow_local_folder=False)
    # As text, an existing folder is then just a malformed repo id.
    with pytest.raises(ValueError, match="not a valid Hub repo id"):
        models.load(str(tmp_path), allow_local_folder=False)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        models.load(tmp_path)


def test_aliases_point_at_their_hub_repos(tmp_path):
    for alias, repo_id in [("sd-vae", "stabilityai/sd-vae-ft-mse"), ("taesd", "madebyollin/taesd"),
                           ("sdxl-vae", "madebyollin/sdxl-vae-fp16-fix"), ("taesdxl", "madebyollin/taesdxl")]:
        with pytest.raises(ModelUnavailableError, match=repo_id):
            models.load(alias, cache_dir=tmp_path)


class CountingLoader:
    """Stands in for models.load: counts calls per name, slow enough for threads to overlap."""

    def __init__(self):
        self.calls, self.lock = {}, threading.Lock()

    def __call__(self, source, **options):
        with self.lock:
            self.calls[source] = self.calls.get(source, 0) + 1
        time.sleep(0.05)
        return object()


@pytest.fixture
def counting_loader(monkeypatch):
    loader = CountingLoader()
    monkeypatch.setattr(models, "load", loader)
    models.clear_cache()
    yield loader
    models.clear_cache()


def test_load_cached_returns_the_same_model_for_the_same_arguments(counting_loader):
    first = models.load_cached("a", image_size=256)
    assert models.load_cached("a", image_size=256) is first
    assert models.load_cached("a", image_size=512) is not first
    assert counting_loader.calls == {"a": 2}


def test_load_cached_keeps_only_the_most_recently_used(counting_loader):
    kept = models.load_cached("a")
    for name in ["b", "c"]:
        models.load_cached(name)
    models.load_cached("a")  # refreshes "a": "b" is now the oldest
    models.load_cached("d")  # evicts "b"
    assert models.load_cached("a") is kept
    models.load_cached("b")
    assert counting_loader.calls == {"a": 1, "b": 2, "c": 1, "d": 1}


def test_load_cached_loads_once_when_threads_ask_together(counting_loader):
    results = []
    threads = [threading.Thread(target=lambda: results.append(models.load_cached("a"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counting_loader.calls == {"a": 1}
    assert all(result is results[0] for result in results)


def test_lazy_package_exposes_models_and_data():
    assert lb.models.load is models.load
    assert callable(lb.data.load_image)


class MiniVAE(torch.nn.Module, PyTorchModelHubMixin):
    """A minimal PyTorchModelHubMixin model standing in for SmallVAE in the loader tests."""

    def __init__(self, width: int = 3):
        super().__init__()
        self.layer = torch.nn.Linear(width, width)


@pytest.fixture
def mini_small_vae(monkeypatch, tmp_path):
    """Embedded checkpoints/digits saved by MiniVAE, with MiniVAE in small_vae's place."""
    module = types.ModuleType("latent_bridge.models.small_vae")
    module.SmallVAE = MiniVAE
    monkeypatch.setitem(sys.modules, "latent_bridge.models.small_vae", module)
    monkeypatch.setattr(models, "CHECKPOINTS_DIR", tmp_path)
    saved = MiniVAE(width=5)
    saved.save_pretrained(tmp_path / "digits")
    return saved


def test_embedded_name_loads_its_checkpoint_folder_offline(mini_small_vae):
    vae = models.load("digits")
    assert isinstance(vae, MiniVAE) and vae.layer.in_features == 5
    torch.testing.assert_close(vae.layer.weight, mini_small_vae.layer.weight)


def test_embedded_model_refuses_hub_options(mini_small_vae):
    with pytest.raises(ValueError, match="image_size apply to diffusers VAEs only"):
        models.load("digits", image_size=64)


def test_folder_without_diffusers_class_loads_as_small_vae(mini_small_vae, tmp_path):
    assert isinstance(models.load(tmp_path / "digits"), MiniVAE)


def test_refused_folders_stay_refused_down_to_the_hub_loader(tmp_path, monkeypatch):
    # A repo id that is also a folder here: with folders refused it is only ever a repo id.
    (tmp_path / "org" / "name").mkdir(parents=True)
    (tmp_path / "org" / "name" / "config.json").write_text('{"_class_name": "AutoencoderKL"}')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelUnavailableError, match="'org/name' is not in the local Hugging Face cache"):
        models.load("org/name", allow_local_folder=False, cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="no safetensors weights"):  # allowed: read as the folder it is
        models.load("org/name", cache_dir=tmp_path / "cache")
