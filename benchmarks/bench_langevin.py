"""Langevin bridge: cost and effective sample size against particles and steps, and accuracy
against cost for plain importance sampling, SMC and SMC + pCN on the 1-D two-well prior.

    python benchmarks/bench_langevin.py [--quick]

Tables (median wall time of a few runs, one torch thread):
1. two-well prior 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2), -2 to 2, T = 3: time, final ESS,
   the smallest per-frame ESS (``frame_ess``) and resamplings against particles and steps;
2. poses-size latents (n = 64): a mixture fitted to checkpoints/poses/latents.safetensors
   when present, else to random data (labelled), same columns;
3. accuracy against cost on the two-well reference (``lb.sde.fokker_planck_reference``):
   errors of the midpoint mean and variance and the total-variation distance of the midpoint
   histogram, root mean square over seeds;
4. the cost of a default run (docs/methods.md, "Cost of a default run"): the two-well case
   with 1 and 8 paths (9 frames), the poses model's 64 dimensions with its fitted 8-component
   mixture (T = 1, 64 frames, 2 paths: the app's default), best of a few runs;
5. the defaults' table (docs/methods.md): P(X < 0) at T/4, T/2, 3T/4 against the reference for
   the old default, the OU guide on the uniform grid and the default (``langevin_accuracy.py``,
   fewer runs with --quick).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import latent_bridge as lb
from latent_bridge.priors import GaussianMixture
from latent_bridge.sde import fokker_planck_reference

TWO_WELL = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [[0.5], [0.5]])
X0, X1, T = -2.0, 2.0, 3.0


def two_well_energy(x):
    """-log(0.5 N(x; -2, 0.5^2) + 0.5 N(x; 2, 0.5^2)) up to a constant (numpy)."""
    return -np.logaddexp(-0.5 * ((x + 2) / 0.5) ** 2, -0.5 * ((x - 2) / 0.5) ** 2)


def timed(sampler, z0, z1, frames, n_paths, seed):
    start = time.perf_counter()
    run = sampler.run(z0, z1, frames, n_paths=n_paths, generator=torch.Generator().manual_seed(seed))
    return time.perf_counter() - start, run


def cost_table(title, prior, z0, z1, T, grid_particles, grid_steps, repeats):
    print(f"\n{title}\n")
    print("| particles | steps | time (s) | final ESS | min frame ESS | resamplings |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for particles in grid_particles:
        for steps in grid_steps:
            sampler = lb.registry.get("langevin", prior=prior, T=T, particles=particles, steps=steps)
            runs = [timed(sampler, z0, z1, 9, 4, seed) for seed in range(repeats)]
            d = runs[-1][1].diagnostics
            print(f"| {particles} | {steps} | {statistics.median(r[0] for r in runs):.3f} | {d['ess']:.0f} | "
                  f"{min(d['frame_ess']):.0f} | {d['resamplings']} |")


def poses_prior():
    vae = lb.models.load_cached("poses")
    return lb.priors.for_model(vae, kind="mixture", components=8), "poses latents, 8-component mixture"


def histogram_tv(samples, grid, density, edges):
    step = grid[1] - grid[0]
    cells = np.clip(np.digitize(grid, edges) - 1, 0, len(edges) - 2)
    expected = np.bincount(cells, weights=density * step, minlength=len(edges) - 1)
    observed = np.histogram(np.clip(samples, edges[0], edges[-1]), bins=edges)[0] / len(samples)
    return 0.5 * float(np.abs(observed - expected).sum())


def accuracy_table(configs, seeds):
    grid = np.linspace(-6.0, 6.0, 1201)
    (density,) = fokker_planck_reference(two_well_energy, X0, X1, T, [T / 2], grid)
    step = grid[1] - grid[0]
    mean = float((density * grid).sum() * step)
    var = float((density * (grid - mean) ** 2).sum() * step)
    edges = np.linspace(-4.5, 4.5, 19)
    print(f"\nAccuracy against cost, two-well midpoint (reference mean {mean:.3f}, variance {var:.3f}); "
          f"root mean square over {len(seeds)} seeds, median time\n")
    print("| method | particles | steps | pCN moves | time (s) | final ESS | midpoint ESS | mean error | "
          "variance error | TV distance |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    z0, z1 = torch.tensor([X0]), torch.tensor([X1])
    for label, params in configs:
        sampler = lb.registry.get("langevin", prior=TWO_WELL, T=T, **params)
        times, ess, frame_ess, errors = [], [], [], []
        for seed in seeds:
            elapsed, run = timed(sampler, z0, z1, 3, params["particles"], seed)
            midpoint = run.latents[:, 1, 0].double().numpy()
            times.append(elapsed)
            ess.append(run.diagnostics["ess"])
            frame_ess.append(run.diagnostics["frame_ess"][0])
            errors.append((midpoint.mean() - mean, midpoint.var() - var, histogram_tv(midpoint, grid, density, edges)))
        rms = np.sqrt(np.mean(np.square(errors), axis=0))
        print(f"| {label} | {params['particles']} | {params['steps']} | {params.get('pcn_moves', 0)} | "
              f"{statistics.median(times):.2f} | {statistics.median(ess):.0f} | {statistics.median(frame_ess):.0f} | "
              f"{rms[0]:.3f} | {rms[1]:.3f} | {rms[2]:.3f} |")


def default_cost_table(repeats):
    print("\nCost of a default run (one particle system of 2,048 particles a path)\n")
    print("| case | paths | time (s) | min frame ESS | distinct paths (fewest at a frame) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    prior, label = poses_prior()
    cases = [("two-well, 1-D", TWO_WELL, torch.tensor([X0]), torch.tensor([X1]), T, 9, 1),
             ("two-well, 1-D", TWO_WELL, torch.tensor([X0]), torch.tensor([X1]), T, 9, 8),
             (f"{label}, 64-D", prior, prior.means[0].float(), prior.means[1].float(), 1.0, 64, 2)]
    for name, case_prior, z0, z1, case_T, frames, paths in cases:
        sampler = lb.registry.get("langevin", prior=case_prior, T=case_T)
        runs = [timed(sampler, z0, z1, frames, paths, seed) for seed in range(repeats)]
        d = runs[-1][1].diagnostics
        print(f"| {name} | {paths} | {min(r[0] for r in runs):.2f} | {d['min_frame_ess']:.1f} | "
              f"{min(d['distinct_paths'])} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids (a smoke run)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # many small operations: threads only add synchronisation
    repeats = 1 if args.quick else 3
    particles = (100, 1000) if args.quick else (100, 1000, 10_000)
    steps = (50, 200) if args.quick else (50, 200, 800)
    default_cost_table(repeats)
    cost_table("Two-well prior (n = 1), 9 frames", TWO_WELL, torch.tensor([X0]), torch.tensor([X1]), T,
               particles, steps, repeats)
    prior, label = poses_prior()
    g = torch.Generator().manual_seed(1)
    if "RANDOM" in label:
        z0, z1 = torch.randn(64, generator=g), torch.randn(64, generator=g)
    else:
        z0, z1 = prior.means[0].float(), prior.means[1].float()  # two component centres
    cost_table(f"Poses-size latents (n = 64), T = 0.5, {label}, 9 frames", prior, z0, z1, 0.5,
               (16, 128, 512), steps, repeats)
    n = 5000 if args.quick else 20_000
    seeds = range(2) if args.quick else range(5)
    configs = [
        ("plain IS", {"particles": n, "steps": 300, "ess_threshold": 0.0}),
        ("SMC", {"particles": n, "steps": 300}),
        ("SMC", {"particles": n // 10, "steps": 300}),
        ("SMC + pCN", {"particles": n // 10, "steps": 300, "pcn_moves": 9, "pcn_step": 0.5}),
    ]
    accuracy_table(configs, list(seeds))
    import langevin_accuracy  # same folder

    print()
    langevin_accuracy.main(["--runs", "40" if args.quick else "300",
                            "--variant", "old-1024", "ou-uniform-2048", "default"])


if __name__ == "__main__":
    main()
