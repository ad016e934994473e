"""Our small VAE, its datasets and its training loop."""

import json

import numpy as np
import pytest
import torch

from latent_bridge.data.datasets import load_dataset
from latent_bridge.data.fashion import read_idx
from latent_bridge.models.small_vae import SmallVAE
from latent_bridge.train import CONFIGS, PREVIEW_LABEL_HEIGHT, TrainConfig, train


def test_save_and_load_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = SmallVAE(image_size=32, channels=1, latent_dim=4, widths=(8, 8, 8), name="tiny").eval()
    model.save_pretrained(tmp_path)
    loaded = SmallVAE.from_pretrained(tmp_path)
    images = torch.rand(3, 1, 32, 32)
    assert torch.equal(model.encode(images), loaded.encode(images))
    z = torch.randn(3, 4)
    assert torch.equal(model.decode(z), loaded.decode(z))
    assert loaded.name == "tiny" and loaded.latent_shape == (4,)


def test_loading_is_strict_about_missing_weights(tmp_path):
    from safetensors.torch import load_file, save_file

    SmallVAE(image_size=32, latent_dim=4, widths=(8, 8, 8)).save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    weights.pop(next(iter(weights)))
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(RuntimeError, match="Missing key"):
        SmallVAE.from_pretrained(tmp_path)


def test_encode_decode_shapes_and_ranges():
    model = SmallVAE(image_size=64, latent_dim=16, widths=(8, 8, 8, 8)).eval()
    z = model.encode(torch.rand(2, 1, 64, 64))
    assert z.shape == (2, 16) and z.dtype == torch.float32
    x = model.decode(torch.randn(5, 16) * 3)
    assert x.shape == (5, 1, 64, 64) and x.min() >= 0 and x.max() <= 1


def test_encode_sample_draws_around_the_mean():
    model = SmallVAE(image_size=32, latent_dim=4, widths=(8, 8, 8)).eval()
    images = torch.rand(1, 1, 32, 32)
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([model.encode(images, sample=True, generator=g) for _ in range(2)])
    assert not torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], model.encode(images)[0])


def test_image_size_must_match_the_widths():
    with pytest.raises(ValueError, match="image_size must be"):
        SmallVAE(image_size=48, widths=(8, 8, 8))


@pytest.mark.system_package("dataset-fashion-mnist")
def test_fashion_idx_files_are_read():
    images = load_dataset("fashion", "test")
    assert images.shape == (10_000, 1, 32, 32) and images.dtype == torch.float32
    assert images.min() == 0 and images.max() == 1
    # Zero padding from 28 to 32 pixels; clothes fill the middle.
    assert images[..., :2, :].max() == 0 and 0.2 < images[..., 2:30, 2:30].mean() < 0.4


def test_idx_reader_follows_the_header(tmp_path):
    values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "tiny-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in values.shape) + values.tobytes())
    assert np.array_equal(read_idx(path), values)


def test_missing_fashion_files_name_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_BRIDGE_FASHION_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="dataset-fashion-mnist.*LATENT_BRIDGE_FASHION_DIR"):
        load_dataset("fashion", "train")


def test_digits_are_split_without_overlap():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.shape == (1617, 1, 32, 32) and test.shape == (180, 1, 32, 32)
    # The 1,797 digits are all distinct, so 1,797 distinct images means no image is in both.
    assert len(torch.cat([train, test]).flatten(1).unique(dim=0)) == 1797


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown dataset 'cats'"):
        load_dataset("cats")


def test_a_short_training_run_writes_a_complete_checkpoint(tmp_path):
    config = TrainConfig(**{**CONFIGS["digits"].__dict__, "widths": (8, 8, 8), "max_latents": 100})
    metrics = train(config, tmp_path, minutes=0.05, progress=False)
    assert {p.name for p in tmp_path.iterdir()} >= {
        "config.json", "model.safetensors", "README.md", "metrics.json", "latents.safetensors", "examples"}
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert metrics["steps"] > 0 and np.isfinite(metrics["heldout_elbo_nats"])
    assert len(list((tmp_path / "examples").glob("*.png"))) == 6
    loaded = SmallVAE.from_pretrained(tmp_path)
    assert loaded.training_latents().shape == (100, 2)
    assert "held-out" in (tmp_path / "README.md").read_text()


def test_preview_grid_has_a_row_per_kind_of_image(tmp_path):
    from PIL import Image

    from latent_bridge.train import preview

    model = SmallVAE(image_size=32, latent_dim=2, widths=(8, 8, 8)).eval()
    preview(model, torch.rand(20, 1, 32, 32), tmp_path / "grid.png")
    # 32 px tiles drawn at 64 px, 2 px apart: held-out, reconstructed, 2 x prior, 3 x bridge;
    # a label strip above each row but the second of prior samples.
    width, height = Image.open(tmp_path / "grid.png").size
    assert (width, height) == (8 * 66 - 2, 7 * 66 - 2 + 6 * PREVIEW_LABEL_HEIGHT)


def test_preview_of_a_few_held_out_images_has_no_label_column(tmp_path):
    from PIL import Image

    from latent_bridge.train import preview

    model = SmallVAE(image_size=32, latent_dim=2, widths=(8, 8, 8)).eval()
    preview(model, torch.ones(2, 1, 32, 32), tmp_path / "grid.png")
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (2 * 66 - 2, 7 * 66 - 2 + 6 * PREVIEW_LABEL_HEIGHT)  # two columns of tiles, nothing beside
    # The first (white) held-out image starts at the left edge, right under its label.
    assert grid.getpixel((0, PREVIEW_LABEL_HEIGHT)) == 255 and grid.getpixel((0, PREVIEW_LABEL_HEIGHT - 1)) == 40


def test_training_an_embedded_model_writes_into_the_top_level_checkpoints(monkeypatch, capsys):
    from pathlib import Path

    import latent_bridge.train as training

    written = []
    monkeypatch.setattr(training, "train", lambda config, out, minutes: written.append(out) or {})
    monkeypatch.setattr(training, "preview", lambda model, images, path: written.append(path))
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)
    assert training.main(["digits"]) == 0
    root = Path(__file__).resolve().parents[1]
    # The weights go where lb.models.load("digits") reads them; the grid goes with the docs.
    assert written == [root / "checkpoints" / "digits", root / "docs" / "figures" / "models_digits.png"]
    assert f"preview grid: {written[1]}" in capsys.readouterr().out
