"""Train a small VAE: the embedded ones into ``checkpoints/NAME``, where
``lb.models.load`` reads them, or one on a folder of your own images (``train_folder``, the
``latent-bridge train`` command).

    python -m latent_bridge.train poses            # the shipped settings
    python -m latent_bridge.train digits --minutes 1 --out /some/folder
    latent-bridge train my_images/ --out my-vae --minutes 2

Both go through the same steps: ``fit`` (the optimisation under a time budget), ``evaluate``
(held-out error against the mean image), ``write_checkpoint`` (weights, config, model card,
metrics, examples, encoded training set) and ``preview`` (a grid to look at).

Training stops after a wall-clock budget and its learning rate follows a cosine over that
budget: on a shared 2-core machine the speed varies, and a time budget keeps every run inside
its time with its schedule complete. Fewer steps fit when the machine is busy (the card
records how many were made), so train the shipped models on a quiet machine. Everything
else is seeded. At the end the
held-out reconstruction error, the ELBO and the norms of the encoded data are measured and
written into the model card, ``metrics.json``, together with example images and the encoded
training set (``latents.safetensors``, for fitting priors).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from tqdm import tqdm

from .checkpoints import CHECKPOINTS_DIR
from .checks import check_whole
from .data.datasets import load_dataset
from .data.folder import read_image_folder
from .data.images import to_uint8
from .models.small_vae import SmallVAE

# The docs of a source checkout (absent from an installed package).
FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"


@dataclass
class TrainConfig:
    """How one embedded model is trained."""

    name: str
    description: str
    image_size: int
    latent_dim: int
    widths: tuple[int, ...]
    minutes: float
    batch_size: int = 64
    learning_rate: float = 2e-3
    kl_weight: float = 1.0
    seed: int = 0
    max_latents: int = 5000  # encoded training images kept in latents.safetensors
    channels: int = 1


CONFIGS = {
    "digits": TrainConfig(
        "digits", "Handwritten digits (scikit-learn 8x8, upsampled to 32 px); 2-D latent: the latent space is a map",
        image_size=32, latent_dim=2, widths=(32, 64, 128), minutes=2.5, batch_size=64),
    "fashion": TrainConfig(
        "fashion", "Fashion-MNIST clothing (32 px, padded from 28); 32-D latent",
        image_size=32, latent_dim=32, widths=(32, 64, 128), minutes=10.0, batch_size=128),
    "poses": TrainConfig(
        "poses", "Stick figures in random poses (generated, 64 px); 64-D latent",
        image_size=64, latent_dim=64, widths=(16, 32, 64, 128), minutes=14.0, batch_size=64),
}


def negative_elbo(model: SmallVAE, images: torch.Tensor, kl_weight: float = 1.0, generator=None):
    """Per-image negative ELBO (nats) with a Bernoulli decoder, and its reconstruction and KL parts."""
    mean, logvar = model.posterior(images)
    z = mean + torch.randn(mean.shape, generator=generator) * (0.5 * logvar).exp()
    logits = model.decode_logits(z)
    recon = F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    return (recon + kl_weight * kl).mean(), recon.mean(), kl.mean()


def make_model(config: TrainConfig) -> SmallVAE:
    """A fresh SmallVAE for ``config``; its initial weights follow ``config.seed``."""
    # The initial weights come from torch's global generator: seed it for this model only.
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        return SmallVAE(config.image_size, config.channels, config.latent_dim, config.widths, config.name,
                        config.description)


def fit(model: SmallVAE, images: torch.Tensor, config: TrainConfig, budget: float, progress: bool = True) -> dict:
    """Train ``model`` on ``images`` (float32 (N, C, H, W) in [0, 1]) for ``budget`` seconds of
    wall time, AdamW with a cosine learning rate over the budget after a short warm-up.

    Returns {"steps", "epochs", "wall_minutes"}. Batches of ``config.batch_size`` (fewer when
    the set is smaller) in a seeded order.
    """
    generator = torch.Generator().manual_seed(config.seed)
    batch_size = min(config.batch_size, len(images))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    start, steps, epochs = time.monotonic(), 0, 0
    bar = tqdm(total=int(budget), unit="s", desc=f"train {config.name}", disable=not progress)
    model.train()
    done = False
    while not done:
        order = torch.randperm(len(images), generator=generator)
        for begin in range(0, len(order) - batch_size + 1, batch_size):
            elapsed = time.monotonic() - start
            if elapsed >= budget:
                done = True
                break
            # Cosine schedule over the time budget, after a short warm-up.
            fraction = elapsed / budget
            lr = config.learning_rate * min(1.0, 20 * fraction + 0.05) * 0.5 * (1 + math.cos(math.pi * fraction))
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = images[order[begin:begin + batch_size]]
            loss, recon, kl = negative_elbo(model, batch, config.kl_weight, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if steps % 20 == 0:
                bar.n = min(int(elapsed), int(budget))
                bar.set_postfix(loss=f"{loss.item():.1f}", kl=f"{kl.item():.1f}", epoch=epochs)
        epochs += 1
    bar.n = int(budget)
    bar.close()
    model.eval()
    return {"steps": steps, "epochs": round(steps * batch_size / len(images), 2),
            "wall_minutes": round((time.monotonic() - start) / 60, 2)}


def measure(model: SmallVAE, fitted: dict, train_images: torch.Tensor, test_images: torch.Tensor) -> dict:
    """``evaluate`` with what ``fit`` reported and the set's sizes: what metrics.json holds."""
    metrics = evaluate(model, train_images, test_images)
    metrics.update(fitted, train_images=len(train_images), test_images=len(test_images),
                   parameters=sum(p.numel() for p in model.parameters()))
    return metrics


def train(config: TrainConfig, out: Path, minutes: float | None = None, progress: bool = True) -> dict:
    """Train the embedded model ``config`` for its time budget (or ``minutes``), write the
    checkpoint folder ``out`` and return the measured metrics."""
    budget = 60.0 * (config.minutes if minutes is None else minutes)
    train_images = load_dataset(config.name, "train")
    test_images = load_dataset(config.name, "test")
    model = make_model(config)
    metrics = measure(model, fit(model, train_images, config, budget, progress), train_images, test_images)
    dataset, hub_id = DATASET_SOURCES[config.name]
    card = model_card(config, metrics, dataset=dataset, hub_dataset=hub_id, license="mit",
                      usage=f"Embedded in latent-bridge (`lb.models.load(\"{config.name}\")`), loaded\noffline "
                            "from this folder; `SmallVAE.from_pretrained(folder)` loads it as well. Published\n"
                            "with `latent-bridge push-embedded ORG`, it loads anywhere as\n"
                            f"`lb.models.load(\"ORG/latent-bridge-{config.name}\")`.",
                      retrain=f"python -m latent_bridge.train {config.name}")
    write_checkpoint(model, config, train_images, test_images, metrics, out, card)
    return metrics


@torch.no_grad()
def evaluate(model: SmallVAE, train_images: torch.Tensor, test_images: torch.Tensor) -> dict:
    """Held-out reconstruction MSE (posterior mean decoded; per image: its 99th percentile and
    largest), its ratio to predicting the mean
    training image, the held-out negative ELBO per image, and the encoded data's norms."""
    recon = torch.cat([model.decode(model.encode(b)) for b in test_images.split(500)])
    mse = F.mse_loss(recon, test_images).item()
    # Per image, for ``lb.familiarity``: how far a held-out image's round trip may go.
    per_image = (recon - test_images).pow(2).flatten(1).mean(1)
    baseline = F.mse_loss(train_images.mean(0, keepdim=True).expand_as(test_images), test_images).item()
    generator = torch.Generator().manual_seed(1)
    nelbo = np.mean([negative_elbo(model, b, 1.0, generator)[0].item() for b in test_images.split(500)])
    means = torch.cat([model.encode(b) for b in train_images.split(1000)])
    ratio = means.norm(dim=1) / math.sqrt(means.shape[1])
    return {
        "heldout_mse": round(mse, 5),
        "heldout_mse_p99": round(torch.quantile(per_image, 0.99).item(), 5),
        "heldout_mse_max": round(per_image.max().item(), 5),
        "mean_image_mse": round(baseline, 5),
        "mse_ratio_to_mean_image": round(mse / baseline, 4),
        "heldout_elbo_nats": round(-float(nelbo), 2),
        "latent_norm_ratio_mean": round(ratio.mean().item(), 3),
        "latent_norm_ratio_p05": round(ratio.quantile(0.05).item(), 3),
        "latent_norm_ratio_p95": round(ratio.quantile(0.95).item(), 3),
    }


def _pixels(images: torch.Tensor) -> np.ndarray:
    """float ``(B, C, H, W)`` in [0, 1] -> uint8 ``(B, H, W)`` for one channel, ``(B, H, W, 3)`` for three."""
    pixels = to_uint8(images)
    return pixels[..., 0] if images.shape[1] == 1 else pixels


def _png(image: torch.Tensor, path: Path) -> None:
    """Save a float ``(C, H, W)`` image in [0, 1] as an 8-bit PNG (grayscale for one channel)."""
    Image.fromarray(_pixels(image[None])[0]).save(path)


@torch.no_grad()
def write_checkpoint(model, config, train_images, test_images, metrics, out: Path, card: str) -> None:
    """Weights, config, the model card ``card``, metrics.json, example images and encoded training latents."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    examples = out / "examples"
    examples.mkdir(exist_ok=True)
    for old in examples.glob("*.png"):
        old.unlink()
    for i, index in enumerate(range(0, len(test_images), max(1, len(test_images) // 6))):
        if i == 6:
            break
        _png(test_images[index], examples / f"{config.name}_{i}.png")
    keep = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(2))[: config.max_latents]
    latents = torch.cat([model.encode(b) for b in train_images[keep].split(1000)])
    save_file({"latents": latents.contiguous()}, str(out / "latents.safetensors"))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "README.md").write_text(card)


# Where each dataset comes from: (text for the card, Hub dataset id or None).
DATASET_SOURCES = {
    "digits": ("scikit-learn's 8x8 handwritten digits (`sklearn.datasets.load_digits`), upsampled", None),
    "fashion": ("Fashion-MNIST (Debian's `dataset-fashion-mnist` IDX files), padded from 28 px",
                "zalando-datasets/fashion_mnist"),
    "poses": ("stick figures in random poses, generated by `latent_bridge.data.poses`", None),
}


def model_card(config: TrainConfig, m: dict, *, dataset: str, usage: str, retrain: str,
               hub_dataset: str | None = None, license: str | None = None, notes: str = "") -> str:
    """A checkpoint's README.md: Hub metadata (library, tags, license and dataset where known)
    and what was measured. dataset: where the images came from, in words; usage: how to load
    it; retrain: the command that made it; notes: more lines for the table's end."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("name", "description")}
    meta = "".join([f"license: {license}\n" if license else "", f"datasets: [{hub_dataset}]\n" if hub_dataset else ""])
    colour = "grayscale" if config.channels == 1 else "RGB"
    threads = torch.get_num_threads()
    return f"""---
library_name: latent-bridge
{meta}tags: [vae, latent-bridge, pytorch_model_hub_mixin, {config.name}]
---

# {config.name}: a small convolutional VAE

{config.description}. {usage}

| | |
| --- | --- |
| dataset | {dataset}: {m['train_images']} training images, {m['test_images']} held out |
| image size | {config.image_size} x {config.image_size}, {colour} |
| latent size | {config.latent_dim} (standard normal prior) |
| parameters | {m['parameters']:,} |
| training | {m['steps']} steps ({m['epochs']} epochs), {m['wall_minutes']} min wall time on {threads} CPU threads, \
AdamW, cosine learning rate over the time budget |
| settings | `{json.dumps(settings)}` |
{notes}
## Measured on the held-out images

| metric | value |
| --- | --- |
| reconstruction MSE (posterior mean decoded) | {m['heldout_mse']} |
| MSE of predicting the mean training image | {m['mean_image_mse']} |
| ratio | {m['mse_ratio_to_mean_image']:.1%} |
| ELBO per image (nats, Bernoulli decoder) | {m['heldout_elbo_nats']} |

## Norms of the encoded training data

Posterior means of a trained VAE sit inside the prior's sphere: |mu| / sqrt(n) over the
training set has mean {m['latent_norm_ratio_mean']}, 5th percentile {m['latent_norm_ratio_p05']} and 95th percentile
{m['latent_norm_ratio_p95']} (a draw from the standard normal prior gives about 1).

Files: `config.json` + `model.safetensors` (weights), `metrics.json` (the numbers above),
`examples/` (held-out images), `latents.safetensors` (posterior means of up to
{config.max_latents} training images, for fitting priors). Retrain with
`{retrain}`.
"""


# Pixels above a labelled row of the preview: Pillow's default font is 12 px high.
PREVIEW_LABEL_HEIGHT = 14


@torch.no_grad()
def preview(model: SmallVAE, test_images: torch.Tensor, path: Path, seed: int = 0) -> None:
    """A PNG to look at before shipping: held-out images and their reconstructions, prior
    samples, and OU-bridge paths (T = 1) between held-out pairs, one row each, labelled."""
    from . import registry

    generator = torch.Generator().manual_seed(seed)
    columns = min(8, len(test_images))
    pick = torch.randperm(len(test_images), generator=generator)
    originals = test_images[pick[:columns]]
    rows = {"held-out": originals, "reconstructed": model.decode(model.encode(originals))}
    prior = model.decode(torch.randn((2 * columns, model.latent_dim), generator=generator))
    rows["prior samples"], rows[""] = prior[:columns], prior[columns:]
    # Bridge ends: held-out images after the ones shown (drawn again when there are few).
    ends = model.encode(test_images[torch.cat([pick[columns:], pick.repeat(6)])[:6]])
    bridge = registry.get("ou", T=1.0)
    for i in range(3):
        path_latents = bridge.sample(ends[2 * i], ends[2 * i + 1], frames=columns, generator=generator)[0]
        rows[f"OU bridge {i + 1}"] = model.decode(path_latents)
    scale = max(1, 64 // model.image_size)
    side, gap = model.image_size * scale, 2
    mode, dark, light = ("L", 40, 255) if model.channels == 1 else ("RGB", (40, 40, 40), (255, 255, 255))
    # Each label sits in a strip above its row (the second row of prior samples goes on under
    # the first), not in a column beside the grid: the tiles take the whole width, however few.
    tops, bottom = [], 0
    for text in rows:
        bottom += PREVIEW_LABEL_HEIGHT if text else 0
        tops.append(bottom)
        bottom += side + gap
    draw = ImageDraw.Draw(Image.new(mode, (1, 1)))
    widest_label = max(math.ceil(draw.textlength(text)) for text in rows) + 4
    canvas = Image.new(mode, (max(columns * (side + gap) - gap, widest_label), bottom - gap), dark)
    draw = ImageDraw.Draw(canvas)
    for top, (text, images) in zip(tops, rows.items()):
        draw.text((2, top - PREVIEW_LABEL_HEIGHT), text, fill=light)
        for c, pixels in enumerate(_pixels(images)):
            canvas.paste(Image.fromarray(pixels).resize((side, side), Image.NEAREST), (c * (side + gap), top))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


# --- your own images ---------------------------------------------------------------------------

MIN_IMAGES = 16  # readable images a folder needs: a few to hold out, the rest to learn from
MIN_STEPS = 50  # optimiser steps below which nothing worth keeping is learnt
# The encoder's widths for each side: one halving per entry down to 4 x 4 (the shipped models').
FOLDER_WIDTHS = {16: (32, 64), 32: (32, 64, 128), 64: (16, 32, 64, 128), 128: (16, 32, 64, 128, 128)}


def split_held_out(images: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out): a seeded random ``fraction`` of the images (at least one) held out."""
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out fraction must be between 0 and 1; got {fraction!r}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    count = max(1, round(fraction * len(images)))
    return images[order[count:]], images[order[:count]]


def _check_out(out: Path, folder: Path) -> None:
    """The checkpoint folder: not the images' folder nor inside it, new or a checkpoint already."""
    out_real, folder_real = out.resolve(), folder.resolve()
    if out_real == folder_real or out_real.is_relative_to(folder_real):
        raise ValueError(f"--out {out} is inside the images folder: its example images would be read as training "
                         "images next time; write the model elsewhere")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise ValueError(f"--out {out} holds other files: give a new or empty folder (or a checkpoint to replace)")


def train_folder(folder: str | Path, out: str | Path, *, side: int | None = None, channels: int | None = None,
                 latent_dim: int = 32, minutes: float = 2.0, holdout: float = 0.1, seed: int = 0,
                 name: str | None = None, repo_id: str | None = None, progress: bool = True,
                 note=lambda text: None) -> dict:
    """Train a small VAE on the PNG, JPEG and WebP images under ``folder`` and write a
    checkpoint folder ``out`` that ``lb.models.load(out)`` (and, once pushed, ``load(repo_id)``) reads.

    side: the square side in pixels (16, 32, 64, 128; default from the images); channels: 1 or
    3 (default from the images); latent_dim: size of the latent vector; minutes: the wall-time
    budget; holdout: the fraction of images held out to measure the error; seed: initial
    weights, split and batch order; name: the model's name (default: the folder's);
    repo_id: the Hub repo it will be pushed to, for the card; note: called with each decision
    taken from the data and each file skipped, in words.

    Returns the metrics (also in ``out/metrics.json``). Raises ValueError for unusable input
    (see ``read_image_folder``), fewer than ``MIN_IMAGES`` readable images, or a budget too
    small to learn anything (then nothing is written).
    """
    folder, out = Path(folder), Path(out)
    check_whole("latent size", latent_dim, 1, 1024)
    if not 0 < minutes <= 24 * 60:
        raise ValueError(f"--minutes must be a positive number of minutes (at most a day); got {minutes!r}")
    _check_out(out, folder)
    data = read_image_folder(folder, side=side, channels=channels, progress=progress)
    for text in data.notes:
        note(text)
    if len(data.images) < MIN_IMAGES:
        raise ValueError(f"{len(data.images)} readable image(s) in {str(folder)!r}; training needs at least "
                         f"{MIN_IMAGES} (a few hundred give a usable model)")
    train_images, test_images = split_held_out(data.images, holdout, seed)
    name = name or re.sub(r"[^A-Za-z0-9._-]+", "-", folder.resolve().name).strip("-.") or "my-vae"
    colour = "grayscale" if data.channels == 1 else "colour"
    config = TrainConfig(name, f"A VAE trained on {len(data.images)} {colour} images of {folder.resolve().name!r} "
                               f"({data.side} px); {latent_dim}-D latent",
                         image_size=data.side, latent_dim=latent_dim, widths=FOLDER_WIDTHS[data.side], minutes=minutes,
                         seed=seed, channels=data.channels)
    model = make_model(config)
    fitted = fit(model, train_images, config, 60.0 * minutes, progress)
    if fitted["steps"] < MIN_STEPS:
        raise ValueError(f"{minutes:g} min allowed only {fitted['steps']} training steps, fewer than {MIN_STEPS}: "
                         "nothing useful is learnt that fast; raise --minutes (a few hundred 32 px images "
                         "take about a minute)")
    metrics = measure(model, fitted, train_images, test_images)
    if metrics["mse_ratio_to_mean_image"] >= 1:
        raise ValueError(f"after {fitted['steps']} steps the held-out error ({metrics['heldout_mse']}) is no better "
                         f"than predicting the mean image ({metrics['mean_image_mse']}): raise --minutes or add "
                         "images; nothing was written")
    metrics["skipped_files"] = len(data.skipped)
    where = f"`lb.models.load(\"{repo_id}\")` from the Hub, or" if repo_id else "Once pushed to the Hub,\n" \
        "`lb.models.load(\"org/name\")`; here,"
    skipped = f"| skipped | {len(data.skipped)} unreadable file(s) |\n" if data.skipped else ""
    card = model_card(config, metrics, dataset=f"{len(data.images)} images from the folder `{folder.resolve().name}`",
                      usage=f"Load it with {where} `lb.models.load(\"path/to/this/folder\")`.",
                      retrain=f"latent-bridge train IMAGES --out FOLDER --size {data.side} --channels "
                              f"{data.channels} --latent-dim {latent_dim} --minutes {minutes:g} --seed {seed}",
                      notes=skipped)
    write_checkpoint(model, config, train_images, test_images, metrics, out, card)
    preview(model, test_images, out / "preview.png")
    return metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m latent_bridge.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(CONFIGS), help="which embedded model to train")
    parser.add_argument("--minutes", type=float, default=None, help="time budget (default: the model's own)")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder (default: the embedded model's, checkpoints/NAME)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--preview-only", action="store_true",
                        help="skip training: draw the preview grid of the existing checkpoint "
                             "(docs/figures/models_NAME.png in a source checkout, else preview.png "
                             "in the checkpoint folder)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or CHECKPOINTS_DIR / args.name
    if not args.preview_only:
        print(json.dumps(train(CONFIGS[args.name], out, args.minutes), indent=2))
    # The shipped checkpoints' grids live with the docs; a trial run's stays in its folder.
    shipped = args.out is None and FIGURES.is_dir()
    grid = FIGURES / f"models_{args.name}.png" if shipped else out / "preview.png"
    preview(SmallVAE.from_pretrained(out), load_dataset(args.name, "test"), grid)
    print(f"preview grid: {grid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
