"""Training on a folder of one's own images: reading it, the bad inputs, the checkpoint written,
loading it by folder and by repo id, and pushing it to the Hub through a stand-in HfApi."""

import json
import struct
import zlib

import huggingface_hub
import huggingface_hub.constants
import numpy as np
import pytest
import torch
from PIL import Image

import latent_bridge as lb
from latent_bridge import publish, train
from latent_bridge.cli import main
from latent_bridge.data.folder import default_side, read_image_folder

from tiny_hub import put_in_cache


def squares(n, side=16, colour=False, seed=0):
    """n images of one bright square on black at a random place: easy to learn, far from their mean."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, side, side, 3), np.uint8)
    for image in images:
        x, y = rng.integers(0, side // 2, size=2)
        image[y:y + side // 2, x:x + side // 2] = rng.integers(80, 256, size=3) if colour else 255
    return images


def write_folder(folder, images, suffixes=(".png", ".jpg", ".webp")):
    """Saved across nested folders, in the formats given in turn."""
    for i, pixels in enumerate(images):
        sub = folder / f"part{i % 2}" / "deeper" if i % 3 == 0 else folder / f"part{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        suffix = suffixes[i % len(suffixes)]
        Image.fromarray(pixels).save(sub / f"{i:03d}{suffix}", quality=95) if suffix != ".png" else \
            Image.fromarray(pixels).save(sub / f"{i:03d}{suffix}")
    return folder


def huge_png_header(width=9000, height=9000) -> bytes:
    """A PNG whose header claims width x height pixels (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def gray_folder(tmp_path_factory):
    folder = write_folder(tmp_path_factory.mktemp("images") / "my squares", squares(60), suffixes=(".png", ".webp"))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    (folder / "part0" / "bomb.png").write_bytes(huge_png_header())
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def trained(gray_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "squares-vae"
    torch.set_num_threads(1)
    notes = []
    metrics = train.train_folder(gray_folder, out, side=16, latent_dim=4, minutes=0.2, progress=False,
                                 note=notes.append)
    return out, metrics, notes


def test_a_folder_is_read_through_nested_folders_skipping_unreadable_files(gray_folder):
    data = read_image_folder(gray_folder, side=16, progress=False)
    assert data.images.shape == (60, 1, 16, 16) and data.images.dtype == torch.float32
    assert len(data.files) == 60 and data.files == sorted(data.files)
    assert sorted(name for name, _ in data.skipped) == ["broken.png", "part0/bomb.png"]
    reasons = dict(data.skipped)
    assert "not a valid image file" in reasons["broken.png"] and "megapixels" in reasons["part0/bomb.png"]
    assert any("skipped 2 of 62 files" in note for note in data.notes)


def test_grayscale_or_colour_is_decided_from_the_images(tmp_path, gray_folder):
    # The gray squares were saved as RGB PNG and lossy WebP: still gray.
    assert read_image_folder(gray_folder, side=16, progress=False).channels == 1
    colour = write_folder(tmp_path / "colour", squares(4, colour=True, seed=1), suffixes=(".png",))
    data = read_image_folder(colour, side=16, progress=False)
    assert data.channels == 3 and data.images.shape == (4, 3, 16, 16)
    assert read_image_folder(colour, side=16, channels=1, progress=False).images.shape == (4, 1, 16, 16)


def test_the_side_follows_the_images_unless_given(tmp_path):
    assert default_side([(28, 28)] * 3) == 32 and default_side([(640, 480), (28, 28), (300, 200)]) == 64
    folder = write_folder(tmp_path / "mixed", squares(2), suffixes=(".png",))
    Image.new("RGB", (120, 80), "white").save(folder / "wide.png")
    data = read_image_folder(folder, progress=False)
    assert data.side == 32
    assert any("mixed sizes (16x16 to 120x80)" in note for note in data.notes)


@pytest.mark.parametrize("make, message", [
    (lambda f: None, "it is empty"),
    (lambda f: (f / "a.txt").write_text("x"), r"no PNG, JPEG or WebP images .*1 other file"),
    (lambda f: (f / "a.png").write_bytes(b"junk"), "none of the 1 image files .* could be read"),
])
def test_a_folder_without_a_readable_image_is_refused(tmp_path, make, message):
    folder = tmp_path / "images"
    folder.mkdir()
    make(folder)
    with pytest.raises(ValueError, match=message):
        read_image_folder(folder, progress=False)


def test_too_few_images_are_refused_before_training(tmp_path):
    folder = write_folder(tmp_path / "few", squares(5), suffixes=(".png",))
    with pytest.raises(ValueError, match="5 readable image.*at least 16"):
        train.train_folder(folder, tmp_path / "out", side=16, progress=False)


def test_a_budget_too_small_to_learn_says_so_and_writes_nothing(gray_folder, tmp_path):
    with pytest.raises(ValueError, match=r"allowed only \d+ training steps.*raise --minutes"):
        train.train_folder(gray_folder, tmp_path / "out", side=16, minutes=0.0005, progress=False)
    assert not (tmp_path / "out").exists()


def test_the_checkpoint_cannot_go_inside_the_images_folder(gray_folder):
    with pytest.raises(ValueError, match="inside the images folder"):
        train.train_folder(gray_folder, gray_folder / "model", side=16, progress=False)


def test_training_writes_what_the_shipped_checkpoints_have(trained):
    out, metrics, notes = trained
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "README.md", "metrics.json",
                                               "latents.safetensors", "examples", "preview.png"}
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["test_images"] == 6 and metrics["train_images"] == 54 and metrics["skipped_files"] == 2
    assert metrics["mse_ratio_to_mean_image"] < 1
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: latent-bridge\n") and "grayscale" in card
    assert f"| ratio | {metrics['mse_ratio_to_mean_image']:.1%} |" in card and "2 unreadable file(s)" in card
    assert any("grayscale, from the images" in note for note in notes)


def test_the_trained_model_loads_by_folder_with_its_data(trained):
    out, metrics, _ = trained
    vae = lb.models.load(out)
    assert (vae.image_size, vae.channels, vae.latent_shape) == (16, 1, (4,))
    assert vae.training_latents().shape == (54, 4) and len(vae.example_images()) == 6
    # Its stated held-out error is what it does on its own examples' kind of image: recompute on one.
    example = lb.data.load_image(vae.example_images()[0], 16, channels=1)[None]
    assert float(((vae.decode(vae.encode(example)) - example) ** 2).mean()) < metrics["mean_image_mse"] * 2


def test_the_trained_model_loads_by_repo_id_from_a_cache(trained, tmp_path, monkeypatch):
    out, _, _ = trained
    files = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    put_in_cache(tmp_path / "hub", "me/squares", files)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    vae = lb.models.load("me/squares", allow_local_folder=False)
    local = lb.models.load(out)
    z = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(vae.decode(z), local.decode(z))
    assert vae.training_latents().shape == (54, 4)


def test_the_cli_trains_and_the_model_runs_through_the_cli(gray_folder, tmp_path, capsys):
    out = tmp_path / "cli-vae"
    assert main(["train", str(gray_folder), "--out", str(out), "--size", "16", "--latent-dim", "2",
                 "--minutes", "0.1", "--threads", "1", "--quiet"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["steps"] >= train.MIN_STEPS
    examples = sorted((out / "examples").glob("*.png"))
    assert main(["interpolate", str(examples[0]), str(examples[1]), "--model", str(out), "--frames", "8",
                 "--out", str(tmp_path / "path.png"), "--quiet"]) == 0
    assert Image.open(tmp_path / "path.png").size[0] > 16


@pytest.mark.parametrize("args, message", [
    (["--size", "48"], "invalid choice: 48"),
    (["--minutes", "0"], "--minutes must be a positive number"),
    (["--push-to-hub", "../x"], "not a valid Hub repo id"),
])
def test_the_cli_refuses_bad_flags_before_training(gray_folder, tmp_path, capsys, args, message):
    try:
        code = main(["train", str(gray_folder), "--out", str(tmp_path / "o"), "--quiet", *args])
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --- pushing ------------------------------------------------------------------------------------

class StandInApi:
    """Records create_repo and upload_folder calls as HfApi would receive them."""

    def __init__(self, error=None):
        self.calls, self.error = [], error

    def create_repo(self, repo_id, **kwargs):
        if self.error is not None:
            raise self.error
        self.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))


def test_push_creates_the_repo_and_uploads_the_checkpoint(trained):
    out, _, _ = trained
    api = StandInApi()
    assert publish.push_checkpoint(out, "me/squares", api=api) == "https://huggingface.co/me/squares"
    (create, repo, create_args), (upload, _, upload_args) = api.calls
    assert (create, repo, create_args["exist_ok"], create_args["repo_type"]) == ("create_repo", "me/squares", True,
                                                                                 "model")
    assert upload == "upload_folder" and upload_args["folder_path"] == str(out)
    assert {"config.json", "model.safetensors", "latents.safetensors", "examples/*.png"} <= set(
        upload_args["allow_patterns"])


def test_push_embedded_publishes_the_three_shipped_models():
    api = StandInApi()
    repos = publish.push_embedded("me", api=api)
    assert repos == {name: f"me/latent-bridge-{name}" for name in ("digits", "fashion", "poses")}
    uploaded = [(repo, args["folder_path"]) for kind, repo, args in api.calls if kind == "upload_folder"]
    assert [repo for repo, _ in uploaded] == list(repos.values())
    assert all(folder.endswith(name) for (_, folder), name in zip(uploaded, repos))


def test_push_without_a_token_says_how_to_log_in(trained, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(ValueError, match="no Hugging Face token.*hf auth login"):
        publish.push_checkpoint(trained[0], "me/squares")


def test_push_without_a_network_gives_one_message(trained):
    with pytest.raises(ValueError, match="could not be reached.*ConnectionError"):
        publish.push_checkpoint(trained[0], "me/squares", api=StandInApi(error=ConnectionError("no route")))


def test_push_refuses_a_folder_that_is_no_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="not a checkpoint folder"):
        publish.push_checkpoint(tmp_path, "me/x", api=StandInApi())
