"""Benchmark the samplers: median wall time, and ratio to torch.randn of the same output size.

    python benchmarks/bench_samplers.py [--n 16384] [--frames 48] [--paths 4] [--repeats 15]

Two tables. (1) Every registered sampler at one size (an SD latent of a 512 px image is
4 x 64 x 64 = 16384 numbers), against ``torch.randn`` of the output's size: the floor for
any sampler that draws one normal number per output number. (2) The dense approach of a
straightforward implementation: one multivariate normal over all n * (frames - 2) interior
coordinates with covariance kron(I_n, C), against ``gp`` with the same kernel, for growing n
until the dense one no longer fits the time or memory limit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: `python benchmarks/bench_samplers.py`

import latent_bridge as lb  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: caches, allocator, lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(fn, floor, repeats: int) -> tuple[float, float]:
    """Median times of ``fn`` and ``floor``, run alternately so that load from other processes
    on a shared machine hits both alike."""
    fn(), floor()
    a, b = [], []
    for _ in range(repeats):
        for f, acc in ((fn, a), (floor, b)):
            start = time.perf_counter()
            f()
            acc.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def sampler_table(n: int, frames: int, paths: int, repeats: int) -> None:
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(n, generator=g), torch.randn(n, generator=g)

    def floor():
        return torch.randn((paths, frames, n), generator=g)

    print(f"\nn = {n}, frames = {frames}, paths = {paths}, torch threads = {torch.get_num_threads()}")
    print(f"{'sampler':<28} {'median ms':>10} {'randn ms':>9} {'x randn':>8}")
    samplers = [(name, {}) for name in lb.registry.available()]
    samplers += [("gp", {"kernel": k}) for k in ("periodic", "matern", "locally-periodic")]
    for name, params in samplers:
        sampler = lb.registry.get(name, **params)
        z_end = z0 if getattr(sampler, "is_loop", False) else z1
        t, f = paired_medians(lambda: sampler.sample(z0, z_end, frames, paths, generator=g), floor, repeats)
        label = name + (f" ({params['kernel']})" if params else "")
        print(f"{label:<28} {t * 1e3:>10.2f} {f * 1e3:>9.2f} {t / f:>8.2f}")


def dense_table(frames: int, paths: int, max_seconds: float, max_bytes: float) -> None:
    """gp (one M x M factorisation) against one MVN over all n * M coordinates."""
    sampler = lb.registry.get("gp", kernel="matern", nu=2.5, T=2.0)
    times = sampler.times(frames)
    cov = sampler.covariance(times[1:-1])
    m = frames - 2
    print(f"\ndense MVN (covariance kron(I_n, C), {m} interior frames) vs gp (matern 2.5, T = 2), {paths} paths")
    print(f"{'n':>6} {'dense s':>10} {'gp ms':>10} {'dense / gp':>11}")
    g = torch.Generator().manual_seed(0)
    n = 16
    while (n * m) ** 2 * 8 * 3 <= max_bytes:  # the matrix, its factor and a temporary
        z0, z1 = torch.randn(n, generator=g), torch.randn(n, generator=g)

        def dense():
            mean = sampler.mean(times[1:-1], z0, z1).T.reshape(-1)  # coordinate-major, as kron
            mvn = torch.distributions.MultivariateNormal(mean, covariance_matrix=torch.kron(torch.eye(n, dtype=torch.float64), cov))
            return mvn.sample((paths,))

        start = time.perf_counter()
        dense()
        once = time.perf_counter() - start
        dense_t = once if once > 5.0 else median_seconds(dense, 3)
        gp_t = median_seconds(lambda: sampler.sample(z0, z1, frames, paths, generator=g), 15)
        print(f"{n:>6} {dense_t:>10.3f} {gp_t * 1e3:>10.3f} {dense_t / gp_t:>11.0f}")
        if once * 8 > max_seconds:  # the next size costs about 8x (cubic)
            break
        n *= 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16384)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--paths", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dense-seconds", type=float, default=60.0, help="stop the dense table past this")
    parser.add_argument("--dense-gb", type=float, default=4.0, help="largest dense working set")
    args = parser.parse_args()
    sampler_table(args.n, args.frames, args.paths, args.repeats)
    dense_table(args.frames, args.paths, args.dense_seconds, args.dense_gb * 1e9)


if __name__ == "__main__":
    main()
