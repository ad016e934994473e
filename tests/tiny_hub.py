"""Tiny random diffusers VAEs in a real Hugging Face cache layout, for offline Hub tests.

Imported as ``tiny_hub`` (pytest puts tests/ on sys.path). Models are saved with
save_pretrained and laid out exactly as the Hub client stores downloads:
models--org--name/{blobs, snapshots/<commit>/ (symlinks), refs/main}.
"""

import hashlib
from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderTiny

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def tiny_kl(latent_channels=4, **config):
    """A two-block KL-VAE (downsamples 2x), seeded."""
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=latent_channels, norm_num_groups=4,
        layers_per_block=1, **config,
    ).eval()


def tiny_taesd(latent_channels=4):
    """A two-block tiny autoencoder (downsamples 2x), seeded."""
    torch.manual_seed(1)
    return AutoencoderTiny(
        encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8), num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1), latent_channels=latent_channels,
    ).eval()


def put_in_cache(cache: Path, repo_id: str, files: dict[str, bytes], commit=COMMIT, ref="main"):
    """Store files as the Hub client does: content-addressed blobs, a snapshot of symlinks, a ref."""
    root = cache / ("models--" + repo_id.replace("/", "--"))
    for name, data in files.items():
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = root / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(*[".."] * (len(Path(name).parts) + 1), "blobs", blob.name))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / ref).write_text(commit)
    return root / "snapshots" / commit


def saved_files(model, folder: Path, prefix="") -> dict[str, bytes]:
    """The files ``model.save_pretrained`` writes (safetensors), by name under ``prefix``."""
    model.save_pretrained(folder, safe_serialization=True)
    return {prefix + p.name: p.read_bytes() for p in folder.iterdir()}


def sd_pair_cache(cache: Path, scratch: Path) -> Path:
    """A cache holding tiny models under the real repo ids of sd-vae and taesd."""
    put_in_cache(cache, "stabilityai/sd-vae-ft-mse", saved_files(tiny_kl(), scratch / "sd"))
    put_in_cache(cache, "madebyollin/taesd", saved_files(tiny_taesd(), scratch / "taesd"))
    return cache


def tiny_small_vae(channels=1, latent_dim=3):
    """A latent-bridge SmallVAE at 16 px with a ``latent_dim``-D latent (3 by default), seeded."""
    from latent_bridge.models.small_vae import SmallVAE

    torch.manual_seed(2)
    return SmallVAE(image_size=16, channels=channels, latent_dim=latent_dim, widths=(8, 8), name="tiny",
                    description="a tiny test VAE").eval()


def small_vae_files(model, folder: Path, extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """What a latent-bridge checkpoint holds (``save_pretrained`` + the encoded training set, the
    metrics, an example image), by name, plus ``extra`` files."""
    import io

    from PIL import Image
    from safetensors.torch import save as save_tensors

    model.save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    files["latents.safetensors"] = save_tensors({"latents": torch.zeros(5, model.latent_dim)})
    files["metrics.json"] = b'{"heldout_mse": 0.1}'
    png = io.BytesIO()
    Image.new("L", (16, 16), 128).save(png, format="PNG")
    files["examples/tiny_0.png"] = png.getvalue()
    return {**files, **(extra or {})}


class StandInHub:
    """Answers ``model_info`` as the Hub would, from ``repos`` ({repo id: {file name: bytes or a
    size}}), or raises ``error``; records each call."""

    def __init__(self, repos: dict | None = None, error: Exception | None = None, commit=COMMIT):
        self.repos, self.error, self.commit, self.calls = repos or {}, error, commit, []

    def model_info(self, repo_id, *, revision=None, files_metadata=False, timeout=None, **_):
        from huggingface_hub.errors import RepositoryNotFoundError
        from huggingface_hub.hf_api import ModelInfo

        self.calls.append((repo_id, revision, files_metadata))
        if self.error is not None:
            raise self.error
        if repo_id not in self.repos:
            import httpx

            request = httpx.Request("GET", f"https://huggingface.co/api/models/{repo_id}")
            raise RepositoryNotFoundError(f"404: {repo_id}", response=httpx.Response(404, request=request))
        siblings = [{"rfilename": name, "size": data if isinstance(data, int) or data is None else len(data)}
                    for name, data in self.repos[repo_id].items()]
        return ModelInfo(id=repo_id, sha=self.commit, siblings=siblings, private=False, downloads=0, likes=0,
                         tags=[])
