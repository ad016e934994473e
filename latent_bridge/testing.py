"""Reference answers for tests and benchmarks, written independently of the samplers.

``fokker_planck_reference`` gives the exact bridge marginals of a 1-D Langevin diffusion (up to
its grid); nothing in the samplers imports this module.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["fokker_planck_reference"]


def fokker_planck_reference(energy_1d: Callable[[np.ndarray], np.ndarray], x0: float, x1: float, T: float,
                            times, grid: np.ndarray) -> np.ndarray:
    """Reference densities of the 1-D Langevin bridge dX = -E'(X) dt + sqrt(2) dW, X(0) = x0,
    X(T) = x1, at ``times`` (each in (0, T)), on ``grid`` (float64 (G,), equally spaced, holding
    x0 and x1 as grid points): float64 (len(times), G), each row integrating to 1 (sum * step).

    The generator is discretised as a birth-death chain on the grid with rates
    exp(-(E(y) - E(x)) / 2) / h^2 to each neighbour y (drift -E' and diffusion 2 to first
    order, exactly reversible for exp(-E)); the bridge marginal is
    p(t, x) proportional to P_t(x0, x) P_{T-t}(x, x1) with P_t = expm(Q t). Reversibility makes
    Q similar to a symmetric tridiagonal matrix (off-diagonals 1 / h^2), so every P_t comes
    exactly from one eigendecomposition. ``energy_1d``: numpy (G,) -> (G,), up to a constant.
    """
    from scipy.linalg import eigh_tridiagonal

    grid = np.asarray(grid, dtype=np.float64)
    step = grid[1] - grid[0]
    if grid.ndim != 1 or grid.size < 3 or not np.allclose(np.diff(grid), step) or step <= 0:
        raise ValueError("grid must be an increasing, equally spaced 1-D array of at least 3 points")
    start, end = (int(np.argmin(np.abs(grid - x))) for x in (x0, x1))
    if not (np.isclose(grid[start], x0) and np.isclose(grid[end], x1)):
        raise ValueError(f"grid must contain x0 = {x0} and x1 = {x1} as grid points")
    if any(not 0.0 < t < T for t in times):
        raise ValueError(f"times must lie in (0, T) = (0, {T}); got {list(times)}")
    rise = np.diff(energy_1d(grid))
    up, down = np.exp(-rise / 2) / step**2, np.exp(rise / 2) / step**2
    diagonal = -(np.append(up, 0.0) + np.insert(down, 0, 0.0))
    eigenvalues, vectors = eigh_tridiagonal(diagonal, np.full(grid.size - 1, 1.0 / step**2))
    rows = []
    for t in times:
        # In the symmetric basis the pi^(1/2) and pi^(-1/2) factors of the forward and the
        # backward kernel cancel in the product.
        forward = vectors @ (np.exp(eigenvalues * t) * vectors[start])
        backward = vectors @ (np.exp(eigenvalues * (T - t)) * vectors[end])
        density = np.clip(forward * backward, 0.0, None)
        rows.append(density / (density.sum() * step))
    return np.array(rows)
