"""latent-bridge VAEs by Hub repo id, and the checks made on a repo before anything is downloaded.

Loads go through a real Hugging Face cache layout offline (HF_HUB_OFFLINE=1 from conftest);
the pre-download checks through a stand-in answering ``model_info`` as the Hub does.
"""

import json

import huggingface_hub
import huggingface_hub.constants
import pytest
import torch

import latent_bridge as lb
from latent_bridge.models import ModelUnavailableError

from tiny_hub import COMMIT, StandInHub, put_in_cache, saved_files, small_vae_files, tiny_kl, tiny_small_vae


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf_home") / "hub"
    scratch = tmp_path_factory.mktemp("saved")
    model = tiny_small_vae()
    files = small_vae_files(model, scratch / "lb", extra={"notes/large.bin": b"never fetched"})
    put_in_cache(cache, "org/tiny-lb", files)
    # A second revision, with other weights, under the tag "v2".
    other = tiny_small_vae()
    torch.nn.init.zeros_(other.from_latent.bias)
    put_in_cache(cache, "org/tiny-lb", small_vae_files(other, scratch / "lb2"), commit="e" * 40, ref="v2")
    # A repo whose config belongs to another library, with weights named like ours.
    put_in_cache(cache, "org/a-bert", {"config.json": b'{"model_type": "bert", "hidden_size": 8}',
                                       "model.safetensors": files["model.safetensors"]})
    put_in_cache(cache, "org/tiny-kl", saved_files(tiny_kl(), scratch / "kl"))
    return cache, model, other


@pytest.fixture(autouse=True)
def use_cache(hub_cache, monkeypatch):
    cache = hub_cache[0]
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))


@pytest.fixture
def fetched(monkeypatch):
    """The allow_patterns of every snapshot_download call, in order (the real call still runs)."""
    calls, real = [], huggingface_hub.snapshot_download

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_patterns"))
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", spy)
    return calls


def test_a_latent_bridge_repo_loads_by_repo_id_with_the_same_outputs(hub_cache):
    _, model, _ = hub_cache
    vae = lb.models.load("org/tiny-lb")
    assert isinstance(vae, lb.models.VAE) and vae.latent_shape == (3,) and vae.channels == 1
    images = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(vae.encode(images), model.encode(images))
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(vae.decode(z), model.decode(z))


def test_the_encoded_training_set_and_examples_come_with_it(hub_cache):
    vae = lb.models.load("org/tiny-lb")
    assert vae.training_latents().shape == (5, 3)
    assert [p.name for p in vae.example_images()] == ["tiny_0.png"]


def test_the_config_is_fetched_alone_first_then_only_the_model_files(hub_cache, fetched):
    lb.models.load("org/tiny-lb")
    assert fetched == [["config.json"], lb.models.SMALL_VAE_FILES]
    assert not any("notes" in pattern or pattern.endswith(".bin") for pattern in fetched[1])


def test_a_config_of_another_library_is_refused_before_its_weights_are_fetched(hub_cache, fetched):
    with pytest.raises(ValueError, match="neither a diffusers VAE.*nor a latent-bridge VAE"):
        lb.models.load("org/a-bert")
    assert fetched == [["config.json"]]


def test_a_diffusers_repo_still_loads_by_repo_id(hub_cache):
    assert lb.models.load("org/tiny-kl", image_size=16).kind == "AutoencoderKL"


def test_revision_selects_that_snapshot_of_a_latent_bridge_repo(hub_cache):
    _, model, other = hub_cache
    z = torch.randn(1, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(lb.models.load("org/tiny-lb", revision="v2").decode(z), other.decode(z))
    torch.testing.assert_close(lb.models.load("org/tiny-lb", revision=COMMIT).decode(z), model.decode(z))


def test_a_latent_bridge_repo_takes_no_diffusers_options(hub_cache):
    with pytest.raises(ValueError, match="image_size apply to diffusers VAEs only"):
        lb.models.load("org/tiny-lb", image_size=64)


def test_a_latent_bridge_repo_missing_from_the_cache_says_how_to_fetch_it(hub_cache):
    with pytest.raises(ModelUnavailableError, match=r"'org/not-here'.*HF_HUB_OFFLINE.*hf download org/not-here"):
        lb.models.load("org/not-here")


def test_a_snapshot_folder_loads_as_a_local_folder(hub_cache):
    folder = hub_cache[0] / "models--org--tiny-lb" / "snapshots" / COMMIT
    assert lb.models.load(folder).latent_shape == (3,)


# --- before any download: the Hub's file list ------------------------------------------------

KL_FILES = {"config.json": 500, "diffusion_pytorch_model.safetensors": 335_000_000, "README.md": 4000}
LB_FILES = {"config.json": 200, "model.safetensors": 1_000_000, "latents.safetensors": 60_000,
            "metrics.json": 300, "examples/a_0.png": 900, "README.md": 2000}


def test_a_diffusers_vae_passes_with_its_commit_pinned():
    hub = StandInHub({"org/vae": KL_FILES})
    remote = lb.models.check_remote("org/vae", api=hub)
    assert (remote.kind, remote.commit, remote.subfolder) == ("diffusers", COMMIT, None)
    assert remote.download_bytes == 500 + 335_000_000  # config and weights; not the README
    assert remote.load_options() == {"revision": COMMIT}
    assert hub.calls == [("org/vae", None, True)]


def test_a_latent_bridge_vae_passes_with_its_data_files_counted():
    remote = lb.models.check_remote("org/lb", api=StandInHub({"org/lb": LB_FILES}))
    assert remote.kind == "latent-bridge"
    assert remote.download_bytes == sum(LB_FILES.values()) - 2000


def test_a_pipeline_repo_points_at_its_vae_subfolder():
    files = {"model_index.json": 300, **{f"vae/{name}": size for name, size in KL_FILES.items()},
             "unet/diffusion_pytorch_model.safetensors": 3_400_000_000}
    remote = lb.models.check_remote("org/pipe", api=StandInHub({"org/pipe": files}))
    assert remote.subfolder == "vae" and remote.load_options() == {"revision": COMMIT, "subfolder": "vae"}
    assert remote.download_bytes == 500 + 335_000_000


def test_a_pickle_only_repo_is_refused():
    files = {"config.json": 500, "diffusion_pytorch_model.bin": 335_000_000}
    with pytest.raises(ValueError, match=r"only in pickle files \(diffusion_pytorch_model\.bin\)"):
        lb.models.check_remote("org/old", api=StandInHub({"org/old": files}))


def test_a_repo_without_vae_weights_is_refused():
    with pytest.raises(ValueError, match="holds no VAE latent-bridge can load"):
        lb.models.check_remote("org/text", api=StandInHub({"org/text": {"README.md": 10}}))


def test_weights_above_the_size_limit_are_refused():
    files = {**KL_FILES, "diffusion_pytorch_model.safetensors": 1_500_000_000}
    with pytest.raises(ValueError, match="1,500 MB, above this limit of 1,000 MB"):
        lb.models.check_remote("org/big", api=StandInHub({"org/big": files}))
    with pytest.raises(ValueError, match="above this limit of 100 MB"):
        lb.models.check_remote("org/vae", api=StandInHub({"org/vae": KL_FILES}), max_bytes=10**8)


def test_a_repo_with_too_many_files_to_fetch_is_refused():
    files = {**LB_FILES, **{f"examples/{i}.png": 10 for i in range(100)}}
    with pytest.raises(ValueError, match="105 files, more than 64"):
        lb.models.check_remote("org/many", api=StandInHub({"org/many": files}))


def test_files_without_a_size_are_refused():
    files = {**KL_FILES, "diffusion_pytorch_model.safetensors": None}
    with pytest.raises(ValueError, match="no size"):
        lb.models.check_remote("org/vae", api=StandInHub({"org/vae": files}))


@pytest.mark.parametrize("repo_id", ["../../etc", "/etc/passwd", "https://huggingface.co/org/vae", "org/../x",
                                     "a" * 300 + "/b", "org/name with space", "~/models"])
def test_a_malformed_repo_id_never_reaches_the_hub(repo_id):
    hub = StandInHub({})
    with pytest.raises(ValueError, match="repo id"):
        lb.models.check_remote(repo_id, api=hub)
    assert hub.calls == []


def test_an_unknown_repo_is_named():
    with pytest.raises(ModelUnavailableError, match="no public model 'org/nothing'"):
        lb.models.check_remote("org/nothing", api=StandInHub({}))


def test_an_unreachable_hub_gives_one_message():
    with pytest.raises(ModelUnavailableError, match="could not be reached.*ConnectionError"):
        lb.models.check_remote("org/vae", api=StandInHub(error=ConnectionError("refused")))


def test_the_real_client_offline_says_the_hub_is_switched_off():
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        lb.models.check_remote("org/vae")


def test_a_checked_repo_loads_the_checked_commit_from_the_cache(hub_cache):
    files = {name: len(data) for name, data in small_vae_files(tiny_small_vae(), hub_cache[0].parent / "x").items()}
    remote = lb.models.check_remote("org/tiny-lb", api=StandInHub({"org/tiny-lb": files}))
    vae = lb.models.load(remote.repo_id, allow_local_folder=False, **remote.load_options())
    assert vae.latent_shape == (3,)
    assert json.loads((vae.folder / "config.json").read_text())["latent_dim"] == 3
