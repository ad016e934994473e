"""Langevin bridge, the particle sampler (algorithm="smc"): accuracy against cost at given settings,
many independent runs.

    python benchmarks/langevin_accuracy.py [--runs 400] [--case two-well|asymmetric|both]
        [--variant NAME ...]

For each variant and case, ``runs`` independent particle systems (one round each, seeds 10^6,
10^6 + 1, ...), read through all their weighted particles (``particle_systems``). One path drawn
from a system lands below 0 at time t with probability E[p_r(t)], p_r the run's weighted fraction below
0, so the mean of p_r over runs estimates exactly what a user's path sees, with a far smaller
standard error than one path a run. Printed: that mean at T/4, T/2, 3T/4, the exact value
(``lb.testing.fokker_planck_reference``), the number of standard errors off (standard error of the
mean of p_r over runs), the median frame ESS and the median time of a run (9 frames, 2 paths,
the first 20 seeds, timed apart). One torch thread.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: `python benchmarks/langevin_accuracy.py`

import latent_bridge as lb  # noqa: E402
from latent_bridge.priors import GaussianMixture  # noqa: E402
from latent_bridge.testing import fokker_planck_reference  # noqa: E402

CASES = {
    # name: (prior, x0, x1, T)
    "two-well": (GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [[0.5], [0.5]]), -2.0, 2.0, 3.0),
    "asymmetric": (GaussianMixture([0.7, 0.3], [[-1.5], [2.0]], [[0.4], [0.6]]), 2.0, -1.5, 2.5),
}

TIMED = 20  # runs timed (9 frames, 2 paths), apart from the measured ones

# The particle sampler (algorithm="smc") at its own settings; bench_langevin.py compares the
# default path sampler with it.
SMC = {"algorithm": "smc", "steps": 200}
VARIANTS = {
    # the old default: OU guide, grid refined toward T, one round of 1,024
    "old-1024": {**SMC, "guide": "ou", "grid": "refined", "particles": 1024, "max_particles": 1024},
    "old-4096": {**SMC, "guide": "ou", "grid": "refined", "particles": 4096, "max_particles": 4096},
    "old-8192": {**SMC, "guide": "ou", "grid": "refined", "particles": 8192, "max_particles": 8192},
    "ou-uniform-2048": {**SMC, "guide": "ou", "grid": "uniform", "particles": 2048, "max_particles": 2048},
    "ou-uniform-4096": {**SMC, "guide": "ou", "grid": "uniform", "particles": 4096, "max_particles": 4096},
    "modes-refined-2048": {**SMC, "guide": "modes", "grid": "refined", "particles": 2048, "max_particles": 2048},
    "modes-1024": {**SMC, "guide": "modes", "grid": "uniform", "particles": 1024, "max_particles": 1024},
    "modes-2048": {**SMC, "guide": "modes", "grid": "uniform", "particles": 2048, "max_particles": 2048},
    "modes-4096": {**SMC, "guide": "modes", "grid": "uniform", "particles": 4096, "max_particles": 4096},
    "smc-default": SMC,
}


def exact_below_zero(prior, x0, x1, T, times):
    grid = np.linspace(-7.0, 7.0, 1401)
    energy = lambda x: prior.energy(torch.from_numpy(np.asarray(x, dtype=np.float64))[:, None]).numpy()  # noqa: E731
    density = fokker_planck_reference(energy, x0, x1, T, times, grid)
    return [float((row[grid < 0].sum() + 0.5 * row[grid == 0].sum()) * (grid[1] - grid[0])) for row in density]


def measure(case, params, runs):
    prior, x0, x1, T = CASES[case]
    sampler = lb.registry.get("langevin", prior=prior, T=T, **params)
    times = [T / 4, T / 2, 3 * T / 4]
    exact = exact_below_zero(prior, x0, x1, T, times)
    z0, z1 = torch.tensor([x0]), torch.tensor([x1])
    fractions, ess, seconds = [], [], []
    for seed in range(runs):
        if seed < TIMED:
            start = time.perf_counter()
            sampler.run(z0, z1, frames=9, n_paths=2, generator=torch.Generator().manual_seed(seed))
            seconds.append(time.perf_counter() - start)
        system = sampler.particle_systems(z0, z1, frames=5, systems=1,
                                          generator=torch.Generator().manual_seed(10**6 + seed))
        weights = torch.softmax(system.log_weights[0], 0)
        fractions.append((weights[:, None] * (system.frames[:, :, 0] < 0).double()).sum(0).numpy())
        ess.append(float(system.frame_ess().min()))
    fractions = np.array(fractions)
    mean = fractions.mean(0)
    se = fractions.std(0, ddof=1) / math.sqrt(runs)
    off = (mean - np.array(exact)) / se
    return mean, exact, off, se, statistics.median(ess), 1000 * statistics.median(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--case", default="both", choices=("two-well", "asymmetric", "both"))
    parser.add_argument("--variant", nargs="*", default=list(VARIANTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cases = list(CASES) if args.case == "both" else [args.case]
    print("| case | variant | runs | P(X < 0) at T/4, T/2, 3T/4 | exact | standard errors off | "
          "min frame ESS | ms a run |")
    print("| --- | --- | ---: | --- | --- | --- | ---: | ---: |")
    for case in cases:
        for name in args.variant:
            mean, exact, off, se, ess, ms = measure(case, VARIANTS[name], args.runs)
            print(f"| {case} | {name} | {args.runs} | {', '.join(f'{p:.3f}' for p in mean)} | "
                  f"{', '.join(f'{p:.3f}' for p in exact)} | {', '.join(f'{o:+.1f}' for o in off)} | "
                  f"{ess:.0f} | {ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
