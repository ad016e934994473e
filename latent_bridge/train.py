"""Train the embedded VAEs into ``latent_bridge/checkpoints/NAME``, where ``lb.models.load`` reads them.

    python -m latent_bridge.train poses            # the shipped settings
    python -m latent_bridge.train digits --minutes 1 --out /some/folder

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
from .data.datasets import load_dataset
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


def train(config: TrainConfig, out: Path, minutes: float | None = None, progress: bool = True) -> dict:
    """Train ``config`` for its time budget (or ``minutes``), write the checkpoint folder ``out``
    and return the measured metrics."""
    generator = torch.Generator().manual_seed(config.seed)
    budget = 60.0 * (config.minutes if minutes is None else minutes)
    train_images = load_dataset(config.name, "train")
    test_images = load_dataset(config.name, "test")
    # The initial weights come from torch's global generator: seed it for this model only.
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = SmallVAE(config.image_size, 1, config.latent_dim, config.widths, config.name, config.description)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)

    start, steps, epochs = time.monotonic(), 0, 0
    bar = tqdm(total=int(budget), unit="s", desc=f"train {config.name}", disable=not progress)
    model.train()
    done = False
    while not done:
        order = torch.randperm(len(train_images), generator=generator)
        for begin in range(0, len(order) - config.batch_size + 1, config.batch_size):
            elapsed = time.monotonic() - start
            if elapsed >= budget:
                done = True
                break
            # Cosine schedule over the time budget, after a short warm-up.
            fraction = elapsed / budget
            lr = config.learning_rate * min(1.0, 20 * fraction + 0.05) * 0.5 * (1 + math.cos(math.pi * fraction))
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = train_images[order[begin:begin + config.batch_size]]
            loss, recon, kl = negative_elbo(model, batch, config.kl_weight, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if steps % 20 == 0:
                bar.n = min(int(elapsed), int(budget))
                bar.set_postfix(loss=f"{loss.item():.1f}", kl=f"{kl.item():.1f}", epoch=epochs)
        epochs += 1
    bar.close()
    wall = time.monotonic() - start
    model.eval()
    metrics = evaluate(model, train_images, test_images)
    metrics.update(steps=steps, epochs=round(steps * config.batch_size / len(train_images), 2),
                   wall_minutes=round(wall / 60, 2), train_images=len(train_images),
                   test_images=len(test_images), parameters=sum(p.numel() for p in model.parameters()))
    write_checkpoint(model, config, train_images, test_images, metrics, out)
    return metrics


@torch.no_grad()
def evaluate(model: SmallVAE, train_images: torch.Tensor, test_images: torch.Tensor) -> dict:
    """Held-out reconstruction MSE (posterior mean decoded), its ratio to predicting the mean
    training image, the held-out negative ELBO per image, and the encoded data's norms."""
    recon = torch.cat([model.decode(model.encode(b)) for b in test_images.split(500)])
    mse = F.mse_loss(recon, test_images).item()
    baseline = F.mse_loss(train_images.mean(0, keepdim=True).expand_as(test_images), test_images).item()
    generator = torch.Generator().manual_seed(1)
    nelbo = np.mean([negative_elbo(model, b, 1.0, generator)[0].item() for b in test_images.split(500)])
    means = torch.cat([model.encode(b) for b in train_images.split(1000)])
    ratio = means.norm(dim=1) / math.sqrt(means.shape[1])
    return {
        "heldout_mse": round(mse, 5),
        "mean_image_mse": round(baseline, 5),
        "mse_ratio_to_mean_image": round(mse / baseline, 4),
        "heldout_elbo_nats": round(-float(nelbo), 2),
        "latent_norm_ratio_mean": round(ratio.mean().item(), 3),
        "latent_norm_ratio_p05": round(ratio.quantile(0.05).item(), 3),
        "latent_norm_ratio_p95": round(ratio.quantile(0.95).item(), 3),
    }


def _gray(images: torch.Tensor) -> np.ndarray:
    """float ``(B, 1, H, W)`` in [0, 1] -> uint8 ``(B, H, W)``."""
    return to_uint8(images)[..., 0]


def _png(image: torch.Tensor, path: Path) -> None:
    """Save a float ``(1, H, W)`` image in [0, 1] as an 8-bit grayscale PNG."""
    Image.fromarray(_gray(image[None])[0]).save(path)


@torch.no_grad()
def write_checkpoint(model, config, train_images, test_images, metrics, out: Path) -> None:
    """Weights, config, model card, metrics.json, example images and encoded training latents."""
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
    (out / "README.md").write_text(model_card(config, metrics))


# Where each dataset comes from: (text for the card, Hub dataset id or None).
DATASET_SOURCES = {
    "digits": ("scikit-learn's 8x8 handwritten digits (`sklearn.datasets.load_digits`), upsampled", None),
    "fashion": ("Fashion-MNIST (Debian's `dataset-fashion-mnist` IDX files), padded from 28 px",
                "zalando-datasets/fashion_mnist"),
    "poses": ("stick figures in random poses, generated by `latent_bridge.data.poses`", None),
}


def model_card(config: TrainConfig, m: dict) -> str:
    """The checkpoint's README.md: Hub metadata and what was measured."""
    dataset, hub_id = DATASET_SOURCES[config.name]
    settings = {k: v for k, v in asdict(config).items() if k not in ("name", "description")}
    datasets_line = f"datasets: [{hub_id}]\n" if hub_id else ""
    return f"""---
library_name: latent-bridge
license: mit
tags: [vae, latent-bridge, pytorch_model_hub_mixin, {config.name}]
{datasets_line}---

# {config.name}: a small convolutional VAE

{config.description}. Embedded in latent-bridge (`lb.models.load("{config.name}")`), loaded
offline from this folder; `SmallVAE.from_pretrained(folder)` loads it as well.

| | |
| --- | --- |
| dataset | {dataset}: {m['train_images']} training images, {m['test_images']} held out |
| image size | {config.image_size} x {config.image_size}, grayscale |
| latent size | {config.latent_dim} (standard normal prior) |
| parameters | {m['parameters']:,} |
| training | {m['steps']} steps ({m['epochs']} epochs), {m['wall_minutes']} min wall time on 2 CPU cores, AdamW, cosine learning rate over the time budget |
| settings | `{json.dumps(settings)}` |

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
`python -m latent_bridge.train {config.name}`.
"""




@torch.no_grad()
def preview(model: SmallVAE, test_images: torch.Tensor, path: Path, seed: int = 0) -> None:
    """A PNG to look at before shipping: held-out images and their reconstructions, prior
    samples, and OU-bridge paths (T = 1) between held-out pairs, one row each, labelled."""
    from . import registry

    generator = torch.Generator().manual_seed(seed)
    columns = 8
    pick = torch.randperm(len(test_images), generator=generator)[: columns + 6]
    originals = test_images[pick[:columns]]
    rows = {"held-out": originals, "reconstructed": model.decode(model.encode(originals))}
    prior = model.decode(torch.randn((2 * columns, model.latent_dim), generator=generator))
    rows["prior samples"], rows[""] = prior[:columns], prior[columns:]
    ends = model.encode(test_images[pick[columns:]])
    bridge = registry.get("ou", T=1.0)
    for i in range(3):
        path_latents = bridge.sample(ends[2 * i], ends[2 * i + 1], frames=columns, generator=generator)[0]
        rows[f"OU bridge {i + 1}"] = model.decode(path_latents)
    scale = max(1, 64 // model.image_size)
    side, gap, label = model.image_size * scale, 2, 110
    canvas = Image.new("L", (label + columns * (side + gap), len(rows) * (side + gap)), 40)
    draw = ImageDraw.Draw(canvas)
    for r, (text, images) in enumerate(rows.items()):
        top = r * (side + gap)
        draw.text((4, top + side // 2 - 6), text, fill=255)
        for c, pixels in enumerate(_gray(images)):
            tile = Image.fromarray(pixels)
            canvas.paste(tile.resize((side, side), Image.NEAREST), (label + c * (side + gap), top))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m latent_bridge.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(CONFIGS), help="which embedded model to train")
    parser.add_argument("--minutes", type=float, default=None, help="time budget (default: the model's own)")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder (default: the embedded model's, latent_bridge/checkpoints/NAME)")
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
