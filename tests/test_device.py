"""The device and precision policy (models/device.py) and Hub VAEs at any image shape.

Tiny random diffusers models in a real Hugging Face cache layout, offline (conftest sets
HF_HUB_OFFLINE=1); the 40 dB bound on decoded frames is the issue's, checked on them here and
measured on the full-size architectures by benchmarks/bench_models.py.
"""

import math

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from PIL import Image

import latent_bridge as lb
from latent_bridge.models import device as policy
from latent_bridge.models.hub import float16_safe
from tiny_hub import put_in_cache, saved_files, sd_pair_cache, tiny_kl


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf") / "hub"
    scratch = tmp_path_factory.mktemp("saved")
    sd_pair_cache(cache, scratch)
    put_in_cache(cache, "org/fp16-safe-kl", saved_files(tiny_kl(force_upcast=False), scratch / "fp16"))
    return cache


@pytest.fixture(autouse=True)
def use_cache(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth random RGB picture of the given size (a gradient plus blobs)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = [np.sin(6 * x * rng.uniform(0.5, 2) + 4 * y * rng.uniform(0.5, 2) + rng.uniform(0, 6)) for _ in range(3)]
    return Image.fromarray(((np.stack(channels, -1) + 1) * 127.5).astype(np.uint8))


# ------------------------------------------------------------------------------------------
# The policy


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_a_cpu_is_bfloat16_only_with_native_bfloat16(monkeypatch, native):
    monkeypatch.setattr(policy, "cpu_has_native_bfloat16", lambda: native)
    precision = policy.pick_precision("cpu", "auto")
    assert precision.dtype == (torch.bfloat16 if native else torch.float32)
    assert precision.channels_last and precision.device == torch.device("cpu")
    assert policy.pick_precision("cpu", "float32").dtype == torch.float32  # one argument away


def test_auto_on_cuda_is_float16_where_safe_else_bfloat16(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert policy.pick_dtype("auto", cuda, float16_safe=True) == torch.float16
    assert policy.pick_dtype("auto", cuda, float16_safe=False) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert policy.pick_dtype("auto", cuda, float16_safe=False) == torch.float32


def test_which_vaes_are_safe_in_float16():
    assert float16_safe({"_class_name": "AutoencoderTiny"})  # TAESD, TAESDXL
    assert float16_safe({"_class_name": "AutoencoderKL", "force_upcast": False})  # sdxl-vae-fp16-fix
    assert not float16_safe({"_class_name": "AutoencoderKL", "force_upcast": True})  # SDXL's own VAE
    assert not float16_safe({"_class_name": "AutoencoderKL"})  # sd-vae-ft-mse: no key, diffusers' default


@pytest.mark.parametrize("value, word", [("float8", "dtype"), ("float16", "CUDA"), (torch.int8, "dtype")])
def test_bad_precisions_are_named(value, word):
    with pytest.raises(ValueError, match=word):
        policy.pick_precision("cpu", value)


def test_hub_models_load_with_the_policy_by_default():
    vae = lb.models.load("sd-vae")
    assert vae.dtype == policy.pick_dtype("auto", torch.device("cpu")) and vae.precision.channels_last
    assert lb.models.load("sd-vae", dtype="float32").dtype == torch.float32
    assert lb.models.load("poses").precision.dtype == torch.float32  # embedded: float32 on the CPU


@pytest.mark.parametrize("repo", ["sd-vae", "taesd"])
def test_bfloat16_frames_are_within_40_db_of_float32(repo):
    # Explicit bfloat16, so the bound is checked on any CPU (auto takes it only where native).
    full = lb.models.load(repo, image_size=32, dtype="float32")
    half = lb.models.load(repo, image_size=32, dtype="bfloat16")
    z = torch.randn(8, *full.latent_shape, generator=torch.Generator().manual_seed(0))
    assert psnr(lb.data.to_uint8(full.decode(z)), lb.data.to_uint8(half.decode(z))) >= 40
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert half.encode(images).dtype == torch.float32  # latents stay float32 for the samplers


def test_a_result_records_the_precision_it_was_made_with():
    vae = lb.models.load("sd-vae", image_size=32, fast_decoder=True, dtype="bfloat16")
    a, b = photo(48, 32), photo(48, 32, seed=1)
    result = lb.interpolate(vae, a, b, lb.registry.get("linear"), frames=4)
    assert result.diagnostics["precision"] == {"device": "cpu", "dtype": "bfloat16", "channels_last": True}
    fast = lb.interpolate(vae, a, b, lb.registry.get("linear"), frames=4, fast_preview=True)
    assert fast.diagnostics["decoder"] == "fast" and fast.diagnostics["precision"] == vae.fast_decoder.precision.as_dict()


# ------------------------------------------------------------------------------------------
# Photos of any shape


def test_a_photo_keeps_its_aspect_ratio_and_the_second_is_fitted_to_it():
    vae = lb.models.load("sd-vae", image_size=64)
    # 3:2 landscape, then a portrait photo: scaled to cover 64 x 42 and centre-cropped.
    result = lb.interpolate(vae, photo(600, 400), photo(300, 500, seed=1), lb.registry.get("ou"), frames=5, n_paths=2)
    assert result.frames.shape == (2, 5, 42, 64, 3)
    assert result.latents.shape == (2, 5, 4, 21, 32) and result.diagnostics["image_shape"] == [42, 64]
    assert vae.image_shape == (64, 64)  # the loaded model is left as it was
    walk = lb.random_walk(vae, photo(400, 600), frames=4)
    assert walk.frames.shape[2:4] == (64, 42)


def test_the_fitted_image_is_the_centre_of_the_other():
    # Image B (square, left half black, right half white) fitted to a wide image A keeps its middle.
    vae = lb.models.load("sd-vae", image_size=32, dtype="float32")
    b = np.zeros((64, 64, 3), np.uint8)
    b[:, 32:] = 255
    shaped, (_, fitted) = lb.pipeline.prepare_images(vae, [photo(64, 16), b], ["a", "b"])
    assert shaped.image_shape == (8, 32) and fitted.shape == (1, 3, 8, 32)
    assert fitted[0, :, :, :14].max() < 0.05 and fitted[0, :, :, 18:].min() > 0.95  # a centre crop, not squeezed


def test_shapes_share_the_weights_and_are_checked():
    vae = lb.models.load("sd-vae", image_size=32, fast_decoder=True)
    wide = vae.with_image_shape(16, 32)
    assert wide.model is vae.model and wide.fast_decoder.model is vae.fast_decoder.model
    assert wide.latent_shape == (4, 8, 16) and wide.fast_decoder.latent_shape == (4, 8, 16)
    assert vae.shape_for(600, 400) == (22, 32) and vae.shape_for(400, 600, longest=64) == (64, 42)
    with pytest.raises(ValueError, match="multiple of 2"):
        vae.with_image_shape(15, 32)


def test_our_small_vaes_still_crop_a_square():
    vae = lb.models.load("poses")
    shaped, (image,) = lb.pipeline.prepare_images(vae, [photo(90, 60)], ["image"])
    assert shaped is vae and image.shape == (1, 1, 64, 64)


def test_the_command_line_writes_a_3_to_2_video(tmp_path, cache, monkeypatch):
    import imageio_ffmpeg

    from latent_bridge import cli

    photo(600, 400).save(tmp_path / "a.png")
    photo(600, 400, seed=1).save(tmp_path / "b.png")
    out = tmp_path / "out.mp4"
    assert cli.main(["interpolate", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--model", "sd-vae",
                     "--image-size", "96", "--frames", "6", "--paths", "1", "--fast-preview", "--out", str(out),
                     "--quiet"]) == 0
    reader = imageio_ffmpeg.read_frames(str(out))
    width, height = next(reader)["size"]
    reader.close()
    assert abs(width / height - 1.5) < 0.02
