"""Hub VAEs through a real Hugging Face cache layout, offline (HF_HUB_OFFLINE=1 from conftest).

Tiny random diffusers models are saved with save_pretrained and laid out exactly as the Hub
client stores downloads: models--org--name/{blobs, snapshots/<commit>/ (symlinks), refs/main}.
"""

import json
import time

import huggingface_hub
import huggingface_hub.constants
import pytest
import torch
from diffusers import AutoencoderKL, AutoencoderTiny

import latent_bridge as lb
from latent_bridge.models import ModelUnavailableError

from tiny_hub import COMMIT, put_in_cache, saved_files, tiny_kl, tiny_taesd

KL_SCALING, KL_SHIFT = 0.5, 0.1
SIZE = 16  # image side in the tests; the tiny models downsample 2x -> 8x8 latents


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf_home") / "hub"
    scratch = tmp_path_factory.mktemp("saved")
    models = {
        "org/tiny-kl": tiny_kl(scaling_factor=KL_SCALING, shift_factor=KL_SHIFT),
        "org/tiny-kl-mean-std": tiny_kl(scaling_factor=0.5, latents_mean=[0.1, -0.2, 0.3, 0.0],
                                        latents_std=[2.0, 1.0, 0.5, 4.0]),
        "org/tiny-taesd": tiny_taesd(),
        "org/tiny-taesd-8ch": tiny_taesd(latent_channels=8),
    }
    for repo_id, model in models.items():
        put_in_cache(cache, repo_id, saved_files(model, scratch / repo_id))
    # The aliases' real repo ids, holding the tiny models: the alias path end to end.
    put_in_cache(cache, "stabilityai/sd-vae-ft-mse", saved_files(models["org/tiny-kl"], scratch / "sd"))
    put_in_cache(cache, "madebyollin/taesd", saved_files(models["org/tiny-taesd"], scratch / "taesd"))
    # A pipeline repo whose VAE sits in a subfolder.
    put_in_cache(cache, "org/pipeline", {"model_index.json": b"{}",
                                         **saved_files(models["org/tiny-kl"], scratch / "pipe", "vae/")})
    # A second revision of tiny-kl under the tag "v2", with another scaling factor.
    put_in_cache(cache, "org/tiny-kl", saved_files(tiny_kl(scaling_factor=0.25), scratch / "v2"),
                 commit="f" * 40, ref="v2")
    config = json.loads((scratch / "org/tiny-kl" / "config.json").read_text())
    put_in_cache(cache, "org/pickle-only", {"config.json": json.dumps(config).encode(),
                                            "diffusion_pytorch_model.bin": b"never read"})
    put_in_cache(cache, "org/a-unet", {"config.json": json.dumps({"_class_name": "UNet2DModel"}).encode(),
                                       "diffusion_pytorch_model.safetensors": b"never read"})
    return cache, models


@pytest.fixture(autouse=True)
def use_cache(hub_cache, monkeypatch):
    cache, _ = hub_cache
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # The client reads its cache location once, at import: point the constant there too.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))


@pytest.fixture
def images():
    return torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def test_model_class_comes_from_config(hub_cache):
    kl = lb.models.load("org/tiny-kl", image_size=SIZE)
    tiny = lb.models.load("org/tiny-taesd", image_size=SIZE)
    assert isinstance(kl.model, AutoencoderKL) and kl.kind == "AutoencoderKL"
    assert isinstance(tiny.model, AutoencoderTiny) and tiny.kind == "AutoencoderTiny"


def test_shapes_and_attributes(hub_cache, images):
    vae = lb.models.load("org/tiny-kl", image_size=SIZE, dtype="float32")
    assert isinstance(vae, lb.models.VAE)
    assert (vae.image_size, vae.channels, vae.latent_shape) == (SIZE, 3, (4, SIZE // 2, SIZE // 2))
    assert vae.name == "org/tiny-kl" and "org/tiny-kl" in vae.description
    assert vae.device == torch.device("cpu") and vae.dtype == torch.float32
    assert vae.training_latents() is None and vae.example_images() == [] and not vae.has_fast_decoder
    z = vae.encode(images)
    assert z.shape == (2, *vae.latent_shape) and z.dtype == torch.float32
    x = vae.decode(z)
    assert x.shape == images.shape and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_kl_encode_is_shifted_scaled_posterior_mean(hub_cache, images):
    _, models = hub_cache
    vae = lb.models.load("org/tiny-kl", image_size=SIZE, dtype="float32")
    raw_mean = models["org/tiny-kl"].encode(images * 2 - 1).latent_dist.mean
    torch.testing.assert_close(vae.encode(images), (raw_mean - KL_SHIFT) * KL_SCALING)


def test_kl_decode_undoes_scaling_and_maps_to_unit_range(hub_cache):
    _, models = hub_cache
    vae = lb.models.load("org/tiny-kl", image_size=SIZE, dtype="float32")
    z = torch.randn(2, *vae.latent_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = (models["org/tiny-kl"].decode(z / KL_SCALING + KL_SHIFT).sample + 1) / 2
    torch.testing.assert_close(vae.decode(z), expected.clamp(0, 1))


def test_kl_sample_is_mean_plus_scaled_posterior_noise(hub_cache, images):
    _, models = hub_cache
    vae = lb.models.load("org/tiny-kl", image_size=SIZE, dtype="float32")
    posterior = models["org/tiny-kl"].encode(images * 2 - 1).latent_dist
    noise = torch.randn(posterior.mean.shape, generator=torch.Generator().manual_seed(3))
    drawn = vae.encode(images, sample=True, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(drawn, (posterior.mean + posterior.std * noise - KL_SHIFT) * KL_SCALING)
    assert not torch.allclose(drawn, vae.encode(images))


def test_per_channel_latents_mean_and_std_are_applied(hub_cache, images):
    _, models = hub_cache
    vae = lb.models.load("org/tiny-kl-mean-std", image_size=SIZE, dtype="float32")
    raw = models["org/tiny-kl-mean-std"].encode(images * 2 - 1).latent_dist.mean
    mean = torch.tensor([0.1, -0.2, 0.3, 0.0]).view(1, 4, 1, 1)
    std = torch.tensor([2.0, 1.0, 0.5, 4.0]).view(1, 4, 1, 1)
    z = vae.encode(images)
    torch.testing.assert_close(z, (raw - mean) * 0.5 / std)
    torch.testing.assert_close(vae.from_prior_scale(z), raw)


def test_tiny_autoencoder_latents_and_decode(hub_cache, images):
    _, models = hub_cache
    vae = lb.models.load("org/tiny-taesd", image_size=SIZE, dtype="float32")
    raw = models["org/tiny-taesd"].encode(images * 2 - 1).latents  # scaling_factor 1, shift 0
    z = vae.encode(images)
    torch.testing.assert_close(z, raw)
    torch.testing.assert_close(vae.encode(images, sample=True), z)  # TAESD's encoder is deterministic
    with torch.no_grad():
        expected = ((models["org/tiny-taesd"].decode(z).sample + 1) / 2).clamp(0, 1)
    torch.testing.assert_close(vae.decode(z), expected)


def test_fast_decoder_decodes_with_the_tiny_model(hub_cache):
    vae = lb.models.load("org/tiny-kl", image_size=SIZE, fast_decoder="org/tiny-taesd")
    tiny = lb.models.load("org/tiny-taesd", image_size=SIZE)
    z = torch.randn(2, *vae.latent_shape, generator=torch.Generator().manual_seed(2))
    assert vae.has_fast_decoder
    torch.testing.assert_close(vae.decode(z, fast=True), tiny.decode(z))
    assert not torch.allclose(vae.decode(z, fast=True), vae.decode(z))


def test_alias_with_fast_decoder_true_pairs_sd_vae_with_taesd(hub_cache):
    vae = lb.models.load("sd-vae", image_size=SIZE, fast_decoder=True)
    tiny = lb.models.load("taesd", image_size=SIZE)
    assert vae.name == "sd-vae" and vae.description.startswith("Stable Diffusion")
    z = torch.randn(1, *vae.latent_shape, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(vae.decode(z, fast=True), tiny.decode(z))


def test_fast_decoder_true_without_known_pair_is_refused(hub_cache):
    with pytest.raises(ValueError, match="no known fast decoder"):
        lb.models.load("org/tiny-kl", image_size=SIZE, fast_decoder=True)


def test_fast_flag_without_fast_decoder_uses_own_decoder(hub_cache):
    vae = lb.models.load("org/tiny-kl", image_size=SIZE)
    z = torch.randn(1, *vae.latent_shape, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(vae.decode(z, fast=True), vae.decode(z))


def test_fast_decoder_in_another_latent_space_is_refused(hub_cache):
    with pytest.raises(ValueError, match="does not share"):
        lb.models.load("org/tiny-kl", image_size=SIZE, fast_decoder="org/tiny-taesd-8ch")


def test_subfolder_of_pipeline_repo(hub_cache, images):
    vae = lb.models.load("org/pipeline", subfolder="vae", image_size=SIZE)
    torch.testing.assert_close(vae.encode(images), lb.models.load("org/tiny-kl", image_size=SIZE).encode(images))


def test_pipeline_repo_without_subfolder_says_to_pass_it(hub_cache):
    with pytest.raises(ValueError, match="subfolder='vae'"):
        lb.models.load("org/pipeline", image_size=SIZE)


def test_revision_selects_that_snapshot(hub_cache):
    assert lb.models.load("org/tiny-kl", revision="v2", image_size=SIZE).scaling_factor == 0.25
    assert lb.models.load("org/tiny-kl", image_size=SIZE).scaling_factor == KL_SCALING


def test_local_diffusers_folder_loads(hub_cache, images):
    cache, _ = hub_cache
    folder = cache / "models--org--tiny-kl" / "snapshots" / COMMIT
    vae = lb.models.load(folder, image_size=SIZE)
    assert vae.kind == "AutoencoderKL" and vae.scaling_factor == KL_SCALING


def test_repo_missing_from_cache_fails_fast_with_instructions(hub_cache):
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match=r"'org/not-cached'.*HF_HUB_OFFLINE.*hf download org/not-cached"):
        lb.models.load("org/not-cached")
    assert time.perf_counter() - start < 3.0


def test_alias_missing_from_cache_names_its_repo(hub_cache):
    with pytest.raises(ModelUnavailableError, match="madebyollin/taesdxl"):
        lb.models.load("taesdxl")


@pytest.mark.parametrize("repo_id", ["../../etc", "org/my model", "https://huggingface.co/org/vae",
                                     "org/a/b", "org/name..x", "org--x/y", "/org/name"])
def test_malformed_repo_id_is_refused_before_any_hub_call(hub_cache, monkeypatch, repo_id):
    def no_hub_call(*args, **kwargs):
        raise AssertionError("the Hub client was called")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_hub_call)
    with pytest.raises(ValueError, match="repo id"):
        lb.models.load(repo_id, allow_local_folder=False)


def test_a_repo_id_needs_its_namespace():
    # huggingface_hub's validate_repo_id accepts a bare name; a model here is always 'org/name'.
    with pytest.raises(ValueError, match="not a valid Hub repo id: 'tiny-kl'"):
        lb.models.resolve_repo_id("tiny-kl")
    assert lb.models.resolve_repo_id("org/tiny-kl") == "org/tiny-kl"


def test_repo_with_only_pickle_weights_is_refused(hub_cache):
    with pytest.raises(ValueError, match=r"no safetensors weights.*diffusion_pytorch_model\.bin"):
        lb.models.load("org/pickle-only", image_size=SIZE)


def test_unsupported_model_class_names_supported_ones(hub_cache):
    with pytest.raises(ValueError, match="UNet2DModel.*AutoencoderKL, AutoencoderTiny"):
        lb.models.load("org/a-unet")


@pytest.mark.parametrize("options, word", [({"image_size": 15}, "multiple of 2"), ({"image_size": 0}, "image_size"),
                                           ({"dtype": "float16"}, "CUDA"), ({"dtype": "int8"}, "dtype"),
                                           ({"device": "tpu9"}, "device"), ({"subfolder": "../x"}, "subfolder")])
def test_bad_options_are_named(hub_cache, options, word):
    with pytest.raises(ValueError, match=word):
        lb.models.load("org/tiny-kl", **{"image_size": SIZE, **options})


def test_images_of_wrong_shape_or_range_are_refused(hub_cache):
    vae = lb.models.load("org/tiny-kl", image_size=SIZE)
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        vae.encode(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.encode(torch.rand(1, 3, SIZE, SIZE) * 255)
    with pytest.raises(ValueError, match="latents must have shape"):
        vae.decode(torch.zeros(1, 4, 4, 4))


def test_tiling_is_on_above_512_pixels_and_slicing_by_default(hub_cache):
    assert lb.models.load("org/tiny-kl", image_size=SIZE).model.use_slicing
    assert not lb.models.load("org/tiny-kl", image_size=SIZE).model.use_tiling
    assert lb.models.load("org/tiny-kl", image_size=1024).model.use_tiling


def test_unreachable_hub_fails_fast_with_instructions(hub_cache, monkeypatch):
    # Online mode, but the Hub is a closed local port: connections are refused at once.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match=r"'org/not-cached'.*could not be reached.*hf download"):
        lb.models.load("org/not-cached")
    assert time.perf_counter() - start < 3.0


def test_cached_repo_loads_when_hub_is_unreachable(hub_cache, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    assert lb.models.load("org/tiny-kl", image_size=SIZE).scaling_factor == KL_SCALING


# --- the model to start with: best_local_model ------------------------------------------------

SD_REPO, TAESD_REPO = "stabilityai/sd-vae-ft-mse", "madebyollin/taesd"


@pytest.fixture
def cache_holding(hub_cache, tmp_path, monkeypatch):
    """Points the Hugging Face cache at a new one holding the given repos of the module's cache
    (a repo id, or (repo id, [file names]) for a partial copy)."""
    source, _ = hub_cache

    def make(*repos):
        import shutil

        cache = tmp_path / "hub"
        cache.mkdir()
        for repo in repos:
            repo_id, names = repo if isinstance(repo, tuple) else (repo, None)
            folder = "models--" + repo_id.replace("/", "--")
            shutil.copytree(source / folder, cache / folder, symlinks=True)
            if names is not None:
                for link in (cache / folder / "snapshots" / COMMIT).iterdir():
                    if link.name not in names:
                        link.unlink()
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
        return cache

    return make


@pytest.fixture
def no_download(monkeypatch):
    """Fails the test if anything is fetched, from the cache or the Hub."""
    def refuse(*args, **kwargs):
        raise AssertionError("best_local_model must read the cache only")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)


def test_best_local_model_is_the_embedded_default_with_an_empty_cache(cache_holding, no_download):
    cache_holding()
    assert lb.models.DEFAULT_MODEL == "poses" and lb.models.DEFAULT_MODEL in lb.models.EMBEDDED
    assert lb.models.best_local_model(cuda=False) == lb.models.best_local_model(cuda=True) == "poses"


def test_best_local_model_prefers_sd_vae_with_its_tiny_decoder_cached(cache_holding, no_download):
    cache_holding(SD_REPO, TAESD_REPO)
    assert lb.models.best_local_model(cuda=False) == lb.models.best_local_model(cuda=True) == "sd-vae"


def test_best_local_model_loads_offline_with_its_fast_previews(cache_holding):
    cache_holding(SD_REPO, TAESD_REPO)  # HF_HUB_OFFLINE=1: the load reads the cache alone
    vae = lb.models.load(lb.models.best_local_model(cuda=False), fast_decoder=True, image_size=SIZE, device="cpu")
    assert vae.name == "sd-vae" and vae.has_fast_decoder


def test_best_local_model_takes_sd_vae_alone_only_on_a_gpu(cache_holding, no_download):
    # On a CPU SD's decoder takes seconds a frame and previews need TAESD, which is missing.
    cache_holding(SD_REPO)
    assert lb.models.best_local_model(cuda=True) == "sd-vae"
    assert lb.models.best_local_model(cuda=False) == "poses"


def test_best_local_model_takes_taesd_when_it_alone_is_cached(cache_holding, no_download):
    cache_holding(TAESD_REPO)
    assert lb.models.best_local_model(cuda=False) == lb.models.best_local_model(cuda=True) == "taesd"


def test_best_local_model_skips_a_repo_cached_without_its_weights(cache_holding, no_download):
    cache_holding((SD_REPO, ["config.json"]), TAESD_REPO)
    assert lb.models.best_local_model(cuda=True) == "taesd"
    assert not lb.models.hub.in_local_cache(SD_REPO) and lb.models.hub.in_local_cache(TAESD_REPO)


def test_best_local_model_asks_torch_about_the_gpu_by_default(cache_holding, no_download, monkeypatch):
    cache_holding(SD_REPO)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert lb.models.best_local_model() == "sd-vae"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert lb.models.best_local_model() == "poses"
