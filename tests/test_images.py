"""Image preparation: every input mode, size and kind of broken file (latent_bridge.data.images)."""

import io
import os
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latent_bridge.data import MAX_PIXELS, load_image, to_uint8

ROOT = Path(__file__).resolve().parents[1]

# 8-bit quantisation plus resampling and JPEG rounding: a few levels of 255.
LEVEL = 4 / 255


def save(image, path, **params):
    image.save(path, **params)
    return path


def png_header_only(width, height, color_type=2):
    """A PNG that declares width x height (8-bit RGB, or grayscale with color_type=0) but holds
    almost no data: cheap to make, huge to decode."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_rgb_file_gives_float_tensor_of_model_size_with_pixel_values(tmp_path):
    path = save(Image.new("RGB", (50, 40), (200, 100, 50)), tmp_path / "a.png")
    x = load_image(path, size=32, channels=3)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    torch.testing.assert_close(x.mean(dim=(1, 2)), torch.tensor([200, 100, 50]) / 255, atol=LEVEL, rtol=0)


def test_path_bytes_pil_and_array_sources_agree(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    path = save(image, tmp_path / "a.png")
    results = [load_image(s, size=24) for s in (path, str(path), path.read_bytes(), image, pixels)]
    for x in results[1:]:
        assert torch.equal(x, results[0])
    # Same size: no resampling, so the pixels come through exactly.
    torch.testing.assert_close(results[0], torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)


def test_float_and_uint16_arrays_are_scaled_to_unit_range():
    ramp = np.linspace(0, 1, 16 * 16).reshape(16, 16)
    from_float = load_image(ramp.astype(np.float32), size=16, channels=1)
    from_uint16 = load_image((ramp * 65535).round().astype(np.uint16), size=16, channels=1)
    torch.testing.assert_close(from_float[0], torch.from_numpy(ramp).float(), atol=0.5 / 255, rtol=0)
    torch.testing.assert_close(from_uint16, from_float, atol=1 / 255, rtol=0)


def test_float_array_outside_unit_range_is_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        load_image(np.full((16, 16, 3), 255.0), size=16)


def test_channels_first_array_is_rejected_with_expected_layout():
    with pytest.raises(ValueError, match="channels last"):
        load_image(np.zeros((3, 32, 32), np.uint8), size=16)


def test_grayscale_image_is_repeated_for_rgb_model(tmp_path):
    x = load_image(save(Image.new("L", (20, 20), 77), tmp_path / "g.png"), size=16, channels=3)
    assert x.shape == (3, 16, 16)
    torch.testing.assert_close(x, torch.full((3, 16, 16), 77 / 255))


def test_rgb_image_becomes_luma_for_grayscale_model(tmp_path):
    x = load_image(save(Image.new("RGB", (20, 20), (255, 0, 0)), tmp_path / "r.png"), size=16, channels=1)
    assert x.shape == (1, 16, 16)
    # ITU-R 601 luma of pure red: 0.299 * 255 = 76.2
    torch.testing.assert_close(x, torch.full((1, 16, 16), 76 / 255), atol=1 / 255, rtol=0)


def test_rgba_transparency_is_composited_on_white(tmp_path):
    image = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 20, 10))  # opaque blue top half, transparent red bottom
    x = load_image(save(image, tmp_path / "t.png"), size=20)
    torch.testing.assert_close(x[:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(x[:, -1, 0], torch.tensor([1.0, 1.0, 1.0]))


def test_half_transparent_gray_with_alpha_blends_with_white(tmp_path):
    x = load_image(save(Image.new("LA", (16, 16), (0, 128)), tmp_path / "la.png"), size=16, channels=1)
    # black at alpha 128/255 over white: 1 - 128/255
    torch.testing.assert_close(x, torch.full((1, 16, 16), 1 - 128 / 255), atol=1 / 255, rtol=0)


def test_palette_with_transparent_index_is_composited_on_white(tmp_path):
    image = Image.new("P", (16, 16), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (0, 0, 16, 8))  # green top half; index 0 (black) is transparent
    x = load_image(save(image, tmp_path / "p.png", transparency=0), size=16)
    torch.testing.assert_close(x[:, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(x[:, -1, 0], torch.tensor([1.0, 1.0, 1.0]))


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    path = save(Image.new("CMYK", (24, 24), (255, 0, 0, 0)), tmp_path / "c.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    x = load_image(path, size=16)
    torch.testing.assert_close(x.mean(dim=(1, 2)), torch.tensor([0.0, 1.0, 1.0]), atol=3 * LEVEL, rtol=0)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    # Pillow's own convert("L") clips 16-bit values at 255: mid-gray would come out white.
    path = save(Image.fromarray(np.full((16, 16), 32768, np.uint16)), tmp_path / "g16.png")
    assert Image.open(path).mode.startswith("I")
    x = load_image(path, size=16, channels=1)
    torch.testing.assert_close(x, torch.full((1, 16, 16), 128 / 255), atol=1 / 255, rtol=0)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("L", (40, 20), 0)
    image.paste(255, (20, 0, 40, 20))  # stored: left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the left half becomes the top
    x = load_image(save(image, tmp_path / "r.jpg", exif=exif, quality=95), size=16, channels=1)[0]
    assert x[0].max() < 0.1 and x[-1].min() > 0.9


def test_centre_crop_keeps_the_middle_of_a_wide_image(tmp_path):
    image = Image.new("RGB", (60, 20), (255, 0, 0))
    image.paste((0, 255, 0), (20, 0, 40, 20))
    x = load_image(save(image, tmp_path / "w.png"), size=20)
    torch.testing.assert_close(x, torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1).expand(3, 20, 20))


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))]
    path = tmp_path / "a.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 2
    x = load_image(path, size=16)
    torch.testing.assert_close(x.mean(dim=(1, 2)), torch.tensor([1.0, 0.0, 0.0]), atol=LEVEL, rtol=0)


def test_tiny_image_is_rejected_naming_min_side(tmp_path):
    with pytest.raises(ValueError, match=r"1x1 pixels.*min_side"):
        load_image(save(Image.new("RGB", (1, 1)), tmp_path / "one.png"), size=32)


def test_image_above_max_pixels_is_rejected_naming_max_pixels(tmp_path):
    path = save(Image.new("RGB", (100, 100)), tmp_path / "big.png")
    with pytest.raises(ValueError, match=r"100x100.*max_pixels"):
        load_image(path, size=32, max_pixels=5000)


def test_huge_declared_image_is_rejected_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(30000, 30000))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="too large|max_pixels"):
        load_image(path, size=32)
    # Decoding 900 megapixels would take many seconds and ~2.7 GB; the header check takes ms.
    assert time.perf_counter() - start < 1.0


def test_declared_size_just_above_cap_is_rejected_with_dimensions(tmp_path):
    path = tmp_path / "large.png"
    path.write_bytes(png_header_only(9000, 9000))  # 81 MP: above our 64 MP cap, below Pillow's 89 MP
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ValueError, match=r"9000x9000.*max_pixels"):
            load_image(path, size=32)


def test_declared_size_at_the_cap_passes_the_size_checks_without_pillow_s_warning(tmp_path):
    path = tmp_path / "at-cap.png"
    path.write_bytes(png_header_only(8000, MAX_PIXELS // 8000, color_type=0))  # grayscale: 64 MB to decode
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # Accepted by size, so decoding starts, and finds the pixel data missing.
        with pytest.raises(ValueError, match="truncated or corrupt"):
            load_image(path, size=32)


def test_importing_the_library_leaves_pillow_s_limit_alone():
    # A fresh interpreter: Pillow's limit as it starts, then after importing and using lb.data.
    code = ("import PIL.Image; default = PIL.Image.MAX_IMAGE_PIXELS; "
            "import numpy, latent_bridge as lb; lb.data.load_image(numpy.zeros((16, 16), numpy.uint8), 16); "
            "print(default, PIL.Image.MAX_IMAGE_PIXELS)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    default, after = out.stdout.split()
    assert after == default != "None"


@pytest.mark.parametrize("content", [b"", b"this is not an image\n", b"\x89PNG\r\n\x1a\n" + bytes(100)],
                         ids=["zero-bytes", "text-named-png", "corrupt-png"])
def test_unreadable_file_gives_clear_error(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"could not read the image 'broken.png': not a valid image file"):
        load_image(path, size=32)


def test_truncated_jpeg_gives_clear_error(tmp_path):
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, "JPEG")
    with pytest.raises(ValueError, match="could not read the image.*truncated or corrupt"):
        load_image(buffer.getvalue()[: len(buffer.getvalue()) // 2], size=32)


def test_missing_file_is_named():
    with pytest.raises(ValueError, match="image file not found: 'no-such-file.png'"):
        load_image("no-such-file.png", size=32)


@pytest.mark.parametrize("kwargs, word", [({"size": 0}, "size"), ({"size": 16, "channels": 2}, "channels"),
                                          ({"size": 16, "max_pixels": 0}, "max_pixels")])
def test_bad_parameters_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        load_image(np.zeros((16, 16), np.uint8), **kwargs)


def test_unsupported_source_type_is_named():
    with pytest.raises(ValueError, match="got list"):
        load_image([[0, 1], [1, 0]], size=16)


def test_callers_pil_image_is_left_open_and_unchanged():
    image = Image.new("RGB", (20, 20), (10, 20, 30))
    load_image(image, size=16)
    assert image.getpixel((0, 0)) == (10, 20, 30)


def test_to_uint8_rounds_clips_and_repeats_one_channel_to_rgb():
    from latent_bridge import pipeline

    images = torch.tensor([-0.5, 0.0, 0.5 / 255, 1.5 / 255, 0.5, 1.0, 2.0]).reshape(1, 1, 1, 7)
    pixels = to_uint8(images)
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 1, 7, 3)
    np.testing.assert_array_equal(pixels[0, 0, :, 0], [0, 0, 0, 2, 128, 255, 255])  # half to even
    assert (pixels == pixels[..., :1]).all()
    assert to_uint8(torch.rand(2, 3, 4, 5)).shape == (2, 4, 5, 3)
    assert pipeline.to_uint8 is to_uint8
