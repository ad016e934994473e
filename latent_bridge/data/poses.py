"""Generated pose images: articulated stick figures with random joint angles.

The ``poses`` model is trained on these, the stand-in for the poster's human poses: a figure
with a head, a torso, two arms and two legs (each with an elbow or a knee), drawn as smooth,
anti-aliased thick limbs on a black background. Everything is generated from a seed, so the
dataset needs no download.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["render_poses", "random_angles", "load_poses"]

# Limb lengths and thicknesses as fractions of the image size.
_TORSO, _NECK, _HEAD_RADIUS = 0.22, 0.05, 0.075
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.14, 0.13, 0.17, 0.16
_SHOULDER_HALF, _HIP_HALF = 0.07, 0.045
_LIMB_WIDTH, _TORSO_WIDTH = 0.028, 0.045


def random_angles(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint angles (radians) within rough anatomical limits, each of shape (n,).

    Angles of the upper limbs are measured from straight down; the elbows and knees bend
    relative to their upper limb. ``lean`` tilts the whole torso.
    """
    u = rng.uniform
    return {
        "lean": u(-0.35, 0.35, n),
        "l_shoulder": u(-0.3, 2.9, n),   # from hanging down to raised above the head
        "r_shoulder": u(-0.3, 2.9, n),
        "l_elbow": u(0.0, 2.2, n),
        "r_elbow": u(0.0, 2.2, n),
        "l_hip": u(-0.2, 1.3, n),        # leg swung outwards/forwards
        "r_hip": u(-0.2, 1.3, n),
        "l_knee": u(0.0, 1.8, n),
        "r_knee": u(0.0, 1.8, n),
        "scale": u(0.85, 1.1, n),
        "dx": u(-0.06, 0.06, n),
        "dy": u(-0.04, 0.04, n),
    }


def _direction(angle: np.ndarray) -> np.ndarray:
    """Unit vectors (n, 2) for angles measured from straight down (image y grows downwards)."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def _segments(a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment start and end points (n, S, 2) in units of the image size, and widths (S,)."""
    s = a["scale"][:, None]
    hip = np.stack([0.5 + a["dx"], 0.60 + a["dy"]], axis=-1)
    up = -_direction(a["lean"])                      # the torso points up
    side = np.stack([-up[:, 1], up[:, 0]], axis=-1)  # perpendicular, towards image right
    neck = hip + up * _TORSO * s
    head = neck + up * (_NECK + _HEAD_RADIUS) * s
    starts, ends, widths = [hip, neck], [neck, head], [_TORSO_WIDTH, _LIMB_WIDTH]
    for sign, prefix in ((-1, "l_"), (1, "r_")):
        shoulder = neck + sign * side * _SHOULDER_HALF * s - up * 0.02 * s
        arm_angle = a["lean"] + sign * a[prefix + "shoulder"]
        elbow = shoulder + _direction(arm_angle) * _UPPER_ARM * s
        hand = elbow + _direction(arm_angle + sign * a[prefix + "elbow"]) * _FOREARM * s
        hip_joint = hip + sign * side * _HIP_HALF * s
        leg_angle = a["lean"] * 0.3 + sign * a[prefix + "hip"]
        knee = hip_joint + _direction(leg_angle) * _THIGH * s
        foot = knee + _direction(leg_angle - sign * a[prefix + "knee"]) * _SHIN * s
        starts += [neck, shoulder, elbow, hip, hip_joint, knee]
        ends += [shoulder, elbow, hand, hip_joint, knee, foot]
        widths += [_LIMB_WIDTH, _LIMB_WIDTH, _LIMB_WIDTH, _LIMB_WIDTH, _LIMB_WIDTH, _LIMB_WIDTH]
    starts_arr = np.stack(starts, axis=1)
    ends_arr = np.stack(ends, axis=1)
    # The head is a disc: a segment of length 0 at its centre, radius as its width.
    widths_arr = np.array(widths, dtype=np.float32)
    head_seg = np.repeat(head[:, None], 2, axis=1)
    starts_arr = np.concatenate([starts_arr, head_seg[:, :1]], axis=1)
    ends_arr = np.concatenate([ends_arr, head_seg[:, 1:]], axis=1)
    widths_arr = np.append(widths_arr, _HEAD_RADIUS)
    return starts_arr, ends_arr, widths_arr


def render_poses(n: int, size: int = 64, seed: int = 0, chunk: int = 128) -> np.ndarray:
    """``n`` figures in random poses: float32 (n, size, size) in [0, 1], white on black.

    Deterministic given ``seed``. Rendering is a distance field to each limb segment with a
    one-pixel linear edge (anti-aliasing), vectorised over a chunk of figures at a time.
    """
    rng = np.random.default_rng(seed)
    angles = {k: v.astype(np.float32) for k, v in random_angles(n, rng).items()}
    coords = (np.arange(size) + 0.5) / size
    grid = np.stack(np.meshgrid(coords, coords, indexing="xy"), axis=-1).reshape(-1, 2).astype(np.float32)
    out = np.empty((n, size * size), dtype=np.float32)
    for begin in range(0, n, chunk):
        part = {k: v[begin:begin + chunk] for k, v in angles.items()}
        starts, ends, widths = _segments(part)
        radius = widths[None, :] * part["scale"][:, None]                       # (c, S)
        seg = ends - starts                                                     # (c, S, 2)
        length2 = np.maximum((seg ** 2).sum(-1), 1e-12)                         # (c, S)
        rx = grid[None, None, :, 0] - starts[:, :, None, 0]                     # (c, S, P)
        ry = grid[None, None, :, 1] - starts[:, :, None, 1]
        t = np.clip((rx * seg[:, :, None, 0] + ry * seg[:, :, None, 1]) / length2[:, :, None], 0.0, 1.0)
        dist = np.hypot(rx - t * seg[:, :, None, 0], ry - t * seg[:, :, None, 1])
        ink = np.clip((radius[:, :, None] - dist) * size + 0.5, 0.0, 1.0)
        out[begin:begin + chunk] = ink.max(axis=1)
    return out.reshape(n, size, size)


def load_poses(split: str = "train", n: int | None = None) -> torch.Tensor:
    """The ``poses`` dataset: 30,000 "train" figures (seed 0) or 2,000 "test" figures (seed 1),
    or the first ``n``; float32 (N, 1, 64, 64) in [0, 1]. Different seeds keep the two apart."""
    count = n or (30_000 if split == "train" else 2_000)
    return torch.from_numpy(render_poses(count, size=64, seed=0 if split == "train" else 1))[:, None]
