"""Langevin bridge: accuracy (standard errors off an exact reference) and seconds a path against
the latent's size, for the default (``auto``: path-smc for a mixture prior, path-mcmc for
others), the other path algorithm where it applies, and the old default (algorithm="smc", 200
steps, 2,048 particles), in one run.

    python benchmarks/bench_langevin.py [--quick] [--table N]

Tables (one torch thread; table 8 two):
1. the product two-well prior 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2) per coordinate
   (``lb.priors.Independent``), T = 3, coordinates alternately -2 -> 2 and 2 -> -2, 5 frames,
   d = 1, 8, 64, 1,024, 4,096: P(X_0 < 0) at T/4, T/2, 3T/4 (coordinate 0, oriented -2 -> 2),
   the worst of P(X_i < 0) at the three times and P(|X_i(T/2)| < 0.5) over the first 8
   coordinates in standard errors of ``runs`` independent paths, the same four pooled over all
   coordinates (a product bridge's coordinates are independent), acceptance, the chains' ESS,
   and seconds a path (a run of one path, best of 2). The exact values come from the 1-D
   Fokker-Planck reference (``lb.testing.fokker_planck_reference``, grid step 0.01). The
   default runs path-mcmc on a product prior;
2. the same product written as one Gaussian mixture of 2^d corners (d = 1: the two wells
   themselves; 2, 4, 8): the prior that does not say it is a product, moved in coordinate
   blocks; the default runs path-smc on it (path-mcmc beside it). path-smc rows: runs of 128
   paths (4 islands of 32), whose paths share ancestors, so the standard error is the runs'
   spread (at least that of independent paths), and seconds a path are a run's over its 128
   paths (median of the runs);
3. Gaussian priors N(m, S), eigenvalues from 0.002 to 20 (condition 1e4; d = 2: 0.002 and 1) in
   a random rotation, d = 2, 64, 1,024, T = 1, 6 frames: the worst whitened mean and variance
   error in standard errors against exact Gaussian conditioning of the linear SDE;
4. the ``poses`` model's fitted 8-component mixture (64-D), T = 1, two component centres, 64
   frames, path-mcmc (named: the default runs path-smc there, table 8): seconds for 1 and 2
   paths, acceptance, the log-density's R-hat (what warns) and the
   projections' R-hat and chain ESS (reported) of 4 and of 16 chains, and of 4 chains after 400
   and 1,600 sweeps;
5. the law of path-mcmc's returned paths on ``poses`` against sweeps (0: the guide's bridge; 100:
   its default; 400, 1,600): over 128 independent chains (16 with --quick), the fraction whose
   returned path spends over a tenth of its interior frames in each mixture component (the
   component of largest responsibility), with its standard error. Chains whose paths were
   draws of the bridge would match the long runs;
6. the same law along long chains on ``poses``: 8 chains of 8,000 sweeps (4 of 400 with
   --quick), the fraction of sweeps in each eighth of the run at which a chain's path spends
   over a tenth of its interior frames in each component (pooled over the chains). Chains
   whose law had settled would give the same shares in every eighth;
7. the same along 8 tempered chains (``rungs=20``, each a ladder of 20 replicas from the
   guide's bridge to the bridge, the beta = 1 rung read) of 1,200 sweeps (2 of 80 with --quick);
8. the default on ``poses`` (auto: path-smc): 6 independent runs at its defaults (4 islands of 32
   paths), all 128 paths of a run returned, on 2 torch threads (2 runs of 2 islands of 8 with
   --quick): each run's seconds, temperatures, lowest ESS, ancestors and route shares, and the
   R-hat over runs of the chains' five summaries.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: `python benchmarks/bench_langevin.py`

import latent_bridge as lb  # noqa: E402
from latent_bridge.priors import Gaussian, GaussianMixture, Independent  # noqa: E402
from latent_bridge.testing import fokker_planck_reference  # noqa: E402

WELL = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [[0.5], [0.5]])
T_WELL = 3.0
OLD = {"algorithm": "smc", "steps": 200}  # the old default: 2,048 particles, modes guide, 200 equal steps


def exact_two_well():
    grid = np.linspace(-7.0, 7.0, 1401)
    step = grid[1] - grid[0]

    def energy(x):
        return WELL.energy(torch.from_numpy(np.asarray(x, dtype=np.float64))[:, None]).numpy()

    rows = fokker_planck_reference(energy, -2.0, 2.0, T_WELL, [T_WELL / 4, T_WELL / 2, 3 * T_WELL / 4], grid)
    below = np.array([row[grid < 0].sum() * step for row in rows])
    return np.append(below, rows[1][np.abs(grid) < 0.5].sum() * step)   # (4,)


def well_statistics(x):
    """x (R, 3, k) oriented paths at the quarters: (4, k) fractions below 0 and near 0 at T/2."""
    return np.concatenate([(x < 0).mean(0), (np.abs(x[:, 1:2]) < 0.5).mean(0)])


def best_time(sampler, z0, z1, frames, paths=1, repeats=2):
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        sampler.run(z0, z1, frames, n_paths=paths, generator=torch.Generator().manual_seed(seed))
        times.append(time.perf_counter() - start)
    return min(times)


def two_well_row(label, prior, d, params, runs, exact):
    """One row: ``runs`` paths (path-smc: runs of all its islands' paths, 128 at the defaults)."""
    sign = torch.tensor([(-1.0) ** i for i in range(d)])
    sampler = lb.registry.get("langevin", prior=prior, T=T_WELL, **params)
    label = f"{sampler.config.algorithm} {label}".strip()
    population = sampler.config.algorithm == "path-smc"
    try:
        if population:
            per_run, times, batch = [], [], sampler.config.islands * sampler.config.population
            for r in range(max(2, runs // batch)):
                start = time.perf_counter()
                run = sampler.run(-2 * sign, 2 * sign, 5, n_paths=batch,
                                  generator=torch.Generator().manual_seed(100 + r))
                times.append(time.perf_counter() - start)
                per_run.append(well_statistics((run.latents[:, 1:-1].double() * sign).numpy()))
            per_run = np.stack(per_run)                                  # (runs, 4, d)
            runs = per_run.shape[0] * batch
            stats = per_run.mean(0)
            spread = per_run.std(0, ddof=1) / math.sqrt(per_run.shape[0])
            se = np.maximum(spread, np.sqrt(exact * (1 - exact) / runs)[:, None])     # (4, d)
            seconds = statistics.median(times) / batch
        else:
            seconds = best_time(sampler, -2 * sign, 2 * sign, 5)
            run = sampler.run(-2 * sign, 2 * sign, 5, n_paths=runs, generator=torch.Generator().manual_seed(100))
            stats = well_statistics((run.latents[:, 1:-1].double() * sign).numpy())   # (4, d)
            se = np.broadcast_to(np.sqrt(exact * (1 - exact) / runs)[:, None], stats.shape)
    except ValueError as error:
        print(f"| {label} | {d} | error: {error} | | | | | |")
        return
    first = np.abs((stats[:, :8] - exact[:, None]) / se[:, :8]).max()
    pooled = stats.mean(1)
    # Pooled over coordinates as if independent (a product bridge's are; a run's shared
    # schedule makes this optimistic), from each coordinate's standard error.
    pooled_off = np.abs((pooled - exact) / (np.sqrt((se ** 2).mean(1)) / math.sqrt(d))).max()
    d_ = run.diagnostics
    if population:
        quality = f"ESS {d_['min_ess']:.2f} / {d_['temperatures']} temperatures"
    elif "acceptance" in d_:
        quality = f"{d_['acceptance']:.2f} / {d_.get('chain_ess', float('nan')):.0f}"
    else:
        quality = f"min frame ESS {d_.get('min_frame_ess', float('nan')):.1f}"
    print(f"| {label} | {d} | {runs} | {', '.join(f'{v:.3f}' for v in stats[:3, 0])} | {first:.1f} | "
          f"{', '.join(f'{v:.3f}' for v in pooled[:3])}; {pooled[3]:.3f} | {pooled_off:.1f} | {quality} | "
          f"{seconds:.3f} |")


def two_well_table(quick, sizes=None):
    exact = exact_two_well()
    print(f"\nProduct two-well, T = 3 (exact P(X < 0) at T/4, T/2, 3T/4 = {', '.join(f'{v:.3f}' for v in exact[:3])}; "
          f"P(|X(T/2)| < 0.5) = {exact[3]:.3f})\n")
    print("| method | d | runs | estimate (coordinate 0) | worst SE off (first 8) | pooled over coordinates "
          "(3 times; near 0) | pooled SE off | acceptance / chain ESS | s a path |")
    print("| --- | ---: | ---: | --- | ---: | --- | ---: | --- | ---: |")
    for d in sizes or ((1, 8, 64, 1024) if quick else (1, 8, 64, 1024, 4096)):
        runs = 400 if d <= 64 else (100 if d <= 1024 else 40)
        if quick:
            runs = min(runs, 100)
        prior = Independent(WELL, d)
        two_well_row("(default)", prior, d, {}, runs, exact)
        # The particle sampler holds paths x particles x frames x d: fewer runs where d is large.
        old_runs = 200 if d == 1 else (100 if d <= 8 else 20)
        if d <= (64 if quick else 1024):
            two_well_row("(old default)", prior, d, OLD, min(old_runs, runs), exact)


def two_well_mixture_table(quick, sizes=None):
    exact = exact_two_well()
    print("\nThe same product written as one Gaussian mixture of its 2^d corners (d = 1: the two wells)\n")
    print("| method | d | runs | estimate (coordinate 0) | worst SE off (first 8) | pooled over coordinates "
          "(3 times; near 0) | pooled SE off | acceptance / chain ESS (path-smc: lowest ESS / temperatures) "
          "| s a path |")
    print("| --- | ---: | ---: | --- | ---: | --- | ---: | --- | ---: |")
    for d in sizes or ((1, 2) if quick else (1, 2, 4, 8)):
        corners = torch.tensor(list(itertools.product([-2.0, 2.0], repeat=d)))
        prior = GaussianMixture(torch.full((2 ** d,), 0.5 ** d), corners, torch.full((2 ** d, d), 0.5))
        # path-smc: 16 runs of 128 paths (4 at d = 8, whose 256 components cost about 2 minutes a run).
        two_well_row("(default)", prior, d, {}, 256 if quick else (512 if d == 8 else 2048), exact)
        two_well_row("", prior, d, {"algorithm": "path-mcmc"}, 200 if d == 8 else 400, exact)
        two_well_row("(old default)", prior, d, OLD, 200 if d == 1 else 100, exact)


def gaussian_moments(eigenvalues, x0, x1, T, t):
    """Exact bridge moments in the eigenbasis (independent OU bridges of rate 1 / lambda):
    mean (d,), variance (d,) at t."""
    rate = 1.0 / eigenvalues
    w0 = np.sinh(rate * (T - t)) / np.sinh(rate * T)
    w1 = np.sinh(rate * t) / np.sinh(rate * T)
    big = rate * T > 300   # sinh overflows: the same weights from exponentials
    w0 = np.where(big, np.exp(-rate * t), w0)
    w1 = np.where(big, np.exp(-rate * (T - t)), w1)
    variance = eigenvalues * -np.expm1(-2 * rate * t) * -np.expm1(-2 * rate * (T - t)) / -np.expm1(-2 * rate * T)
    return w0 * x0 + w1 * x1, variance


def gaussian_table(quick):
    print("\nGaussian priors, condition number 1e4 (d = 2: variances 0.002 and 1), T = 1, 6 frames\n")
    print("| method | d | runs | worst mean error (SE) | worst variance error (SE) | s a path |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for d in ((2, 64) if quick else (2, 64, 1024)):
        eigenvalues = np.array([0.002, 1.0]) if d == 2 else np.geomspace(0.002, 20.0, d)
        rng = np.random.default_rng(d)
        rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
        mean = rng.standard_normal(d)
        prior = Gaussian(mean, rotation @ np.diag(eigenvalues) @ rotation.T)
        x0, x1 = rng.standard_normal(d), rng.standard_normal(d)
        for label, params in (("path-mcmc (default)", {}), ("smc (old default)", OLD)):
            # The particle sampler's full-Gaussian gradient is a d x d product a particle and step.
            runs = (400 if d <= 64 else 200) if not params else (400 if d == 2 else 20)
            if params and d > 64:
                print(f"| {label} | {d} | | not run (2,048 particles x a 1,024 x 1,024 product a step) | | |")
                continue
            sampler = lb.registry.get("langevin", prior=prior, T=1.0, **params)
            try:
                seconds = best_time(sampler, torch.tensor(x0), torch.tensor(x1), 6)
                run = sampler.run(torch.tensor(x0), torch.tensor(x1), 6, n_paths=runs,
                                  generator=torch.Generator().manual_seed(7))
            except ValueError as error:
                print(f"| {label} | {d} | {runs} | error: {str(error)[:90]}... | | |")
                continue
            paths = run.latents.double().numpy()
            worst_mean = worst_var = 0.0
            for j, t in enumerate(run.times.numpy()[1:-1], start=1):
                m, v = gaussian_moments(eigenvalues, (x0 - mean) @ rotation, (x1 - mean) @ rotation, 1.0, t)
                white = ((paths[:, j] - mean) @ rotation - m) / np.sqrt(v)
                worst_mean = max(worst_mean, np.abs(white.mean(0)).max() * math.sqrt(runs))
                worst_var = max(worst_var, np.abs(white.var(0, ddof=1) - 1).max() / math.sqrt(2 / (runs - 1)))
            print(f"| {label} | {d} | {runs} | {worst_mean:.3g} | {worst_var:.3g} | {seconds:.3f} |")


def poses_prior() -> GaussianMixture | None:
    """The ``poses`` model's fitted 8-component mixture, or None (said) when it cannot be loaded."""
    try:
        return lb.priors.for_model(lb.models.load("poses"), kind="mixture")
    except Exception as error:  # noqa: BLE001 - the benchmark reports what it could not load
        print(f"(poses not available: {error})")
        return None


def poses_table():
    print("\nposes (64-D, fitted 8-component mixture), T = 1, two component centres, 64 frames\n")
    print("| method | paths | chains | s | acceptance | log-density R-hat | R-hat (worst projection) | chain ESS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    prior = poses_prior()
    if prior is None:
        return
    z0, z1 = prior.means[0].float(), prior.means[1].float()
    for paths, chains, sweeps in ((1, 4, 100), (2, 4, 100), (2, 16, 100), (1, 4, 400), (1, 4, 1600)):
        sampler = lb.registry.get("langevin", prior=prior, T=1.0, algorithm="path-mcmc", chains=chains, sweeps=sweeps)
        start = time.perf_counter()
        run = sampler.run(z0, z1, 64, n_paths=paths, generator=torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - start
        d = run.diagnostics
        label = "path-mcmc (its defaults)" if (chains, sweeps) == (4, 100) else \
            f"path-mcmc ({f'chains={chains}' if chains != 4 else f'sweeps={sweeps}'})"
        print(f"| {label} | {paths} | {chains} | {seconds:.2f} | "
              f"{d['acceptance']:.2f} | {d['rhat_density']:.2f} | {d['rhat']:.2f} | {d['chain_ess']:.1f} |")
    sampler = lb.registry.get("langevin", prior=prior, T=1.0, **OLD)
    start = time.perf_counter()
    run = sampler.run(z0, z1, 64, n_paths=2, generator=torch.Generator().manual_seed(0))
    print(f"| smc (old default) | 2 | | {time.perf_counter() - start:.2f} | | | | min frame ESS "
          f"{run.diagnostics['min_frame_ess']:.1f} |")


def poses_routes_table(quick: bool):
    prior = poses_prior()
    if prior is None:
        return
    chains, sweeps = (16, (0, 100)) if quick else (128, (0, 100, 400, 1600))
    k = prior.weights.numel()
    print(f"\nposes: the law of the returned paths against sweeps, {chains} independent chains (one path each), "
          "T = 1, 64 frames: P(a path spends over 10 % of its interior frames in component k), "
          f"standard error up to {0.5 / math.sqrt(chains):.3f}\n")
    print("| sweeps | s | " + " | ".join(f"component {i}" for i in range(k)) + " |")
    print("| ---: | ---: | " + " | ".join("---:" for _ in range(k)) + " |")
    z0, z1 = prior.means[0].float(), prior.means[1].float()
    for count in sweeps:
        sampler = lb.registry.get("langevin", prior=prior, T=1.0, algorithm="path-mcmc", sweeps=count, chains=chains)
        start = time.perf_counter()
        run = sampler.run(z0, z1, 64, n_paths=chains, generator=torch.Generator().manual_seed(1000 + count))
        seconds = time.perf_counter() - start
        share = component_shares(prior, run.latents[:, 1:-1].double())
        print(f"| {count} | {seconds:.0f} | " + " | ".join(f"{p:.3f}" for p in (share > 0.1).double().mean(0)) + " |")


def poses_drift_table(quick: bool, rungs: int = 1):
    prior = poses_prior()
    if prior is None:
        return
    if rungs == 1:
        chains, sweeps = (4, 400) if quick else (8, 8000)
    else:
        chains, sweeps = (2, 80) if quick else (8, 1200)
    k, n = prior.weights.numel(), prior.means.shape[1]
    sampler = lb.registry.get("langevin", prior=prior, T=1.0, algorithm="path-mcmc", chains=chains, sweeps=sweeps,
                              rungs=rungs)
    frame = lb.path_mcmc.frame_for(prior, n, "langevin")
    guide = lb.path_mcmc.linear_guide(frame, n)
    steps = sampler.grid_steps(64)
    per_frame = steps // 63

    def routes(paths):  # (C, L + 1, n) -> (C, K): 1 where the path spends over a tenth of its frames in k
        frames = frame.from_frame(paths[:, per_frame:-1:per_frame])
        return (component_shares(prior, frames) > 0.1).double()

    z0, z1 = prior.means[0].double(), prior.means[1].double()
    start = time.perf_counter()
    found = lb.path_mcmc.run_chains(frame, guide, frame.to_frame(z0), frame.to_frame(z1), steps, 1.0 / steps, chains,
                                    sweeps, sampler.config.window, sampler.config.move, sampler.block_size(n), routes,
                                    torch.Generator().manual_seed(5), rungs=rungs)
    seconds = time.perf_counter() - start
    ladders = "" if rungs == 1 else (f" (each a ladder of {rungs} tempered rungs, the beta = 1 rung read; exchanges "
                                     f"accepted {float(found.swap_acceptance.min()):.2f}-"
                                     f"{float(found.swap_acceptance.max()):.2f})")
    print(f"\nposes: the law along {chains} chains{ladders} of {sweeps} sweeps ({seconds:.0f} s), T = 1, 64 frames: "
          "the fraction of sweeps in each eighth of the run at which a chain's path spends over 10 % of its "
          "interior frames in component k, pooled over the chains\n")
    print("| sweeps | " + " | ".join(f"component {i}" for i in range(k)) + " |")
    print("| --- | " + " | ".join("---:" for _ in range(k)) + " |")
    for part in range(8):
        first, last = part * sweeps // 8 + 1, (part + 1) * sweeps // 8
        share = found.trace[first:last + 1].mean((0, 1))
        print(f"| {first}-{last} | " + " | ".join(f"{p:.3f}" for p in share) + " |")


def poses_population_table(quick: bool):
    """Independent runs of path-smc at its defaults on poses (4 islands of 32 paths), all paths of
    a run returned: each run's route shares, and the split-free R-hat over runs of the chains'
    summaries (the path's time average along z1 - z0 and on the prior's two top principal
    directions, its midpoint on the first two), each run's paths its draws. Two torch threads:
    the population's tensors are large enough to use both cores."""
    prior = poses_prior()
    if prior is None:
        return
    runs, params = (2, {"population": 8, "islands": 2}) if quick else (6, {})
    k, n = prior.weights.numel(), prior.means.shape[1]
    z0, z1 = prior.means[0].float(), prior.means[1].float()
    sampler = lb.registry.get("langevin", prior=prior, T=1.0, **params)   # auto: path-smc for the mixture
    config = sampler.config
    paths = config.islands * config.population
    frame = lb.path_mcmc.frame_for(prior, n, "langevin")
    summary = lb.langevin._summaries(frame, z0.double(), z1.double(), n)
    print(f"\nposes: {runs} independent path-smc runs at the defaults ({config.islands} islands of {config.population} "
          f"paths, moves {config.moves}), T = 1, 64 frames, all {paths} paths of a run returned, 2 torch threads: the "
          "fraction of a run's paths that spend over 10 % of their interior frames in component k\n")
    print("| run | s | temperatures | lowest ESS | ancestors (fewest in an island) | "
          + " | ".join(f"component {i}" for i in range(k)) + " |")
    print("| ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in range(k)) + " |")
    summaries, seconds, threads = [], [], torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for r in range(runs):
            start = time.perf_counter()
            run = sampler.run(z0, z1, 64, n_paths=paths, generator=torch.Generator().manual_seed(300 + r))
            seconds.append(time.perf_counter() - start)
            latents = run.latents.double()
            summaries.append(summary(frame.to_frame(latents)))
            share = (component_shares(prior, latents[:, 1:-1]) > 0.1).double().mean(0)
            d = run.diagnostics
            print(f"| {r} | {seconds[-1]:.0f} | {d['temperatures']} | {d['min_ess']:.2f} | {d['ancestors']} "
                  f"({d['fewest_ancestors']}) | " + " | ".join(f"{p:.2f}" for p in share) + " |", flush=True)
    finally:
        torch.set_num_threads(threads)
    draws = torch.stack(summaries)                                   # (runs, paths, 5)
    within, between = draws.var(1).mean(0), draws.mean(1).var(0)
    rhat = (((paths - 1) / paths * within + between) / within).sqrt()
    print(f"\nR-hat over the {runs} runs (time average along z1 - z0, on the two top principal directions; "
          f"midpoint on the first two): {', '.join(f'{v:.3f}' for v in rhat.tolist())}; median "
          f"{statistics.median(seconds) / paths:.2f} s a path")


def component_shares(prior: GaussianMixture, paths: torch.Tensor) -> torch.Tensor:
    """The fraction of each path's frames whose most responsible mixture component is k:
    paths float64 (R, F, n) -> (R, K)."""
    runs, frames, n = paths.shape
    nearest = prior._component_logits(paths.reshape(-1, n)).argmax(1).reshape(runs, frames)
    return torch.stack([(nearest == i).double().mean(1) for i in range(prior.weights.numel())], 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and runs (a smoke run)")
    parser.add_argument("--table", type=int, choices=range(1, 9), help="run only this table (1-8, as listed above)")
    parser.add_argument("--sizes", type=int, nargs="+", help="tables 1 and 2 only at these d (default 1, 8, 64, "
                        "1024, 4096 and 1, 2, 4, 8)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # many small operations: threads only add synchronisation
    tables = {1: lambda: two_well_table(args.quick, args.sizes), 2: lambda: two_well_mixture_table(args.quick, args.sizes),
              3: lambda: gaussian_table(args.quick), 4: poses_table, 5: lambda: poses_routes_table(args.quick),
              6: lambda: poses_drift_table(args.quick), 7: lambda: poses_drift_table(args.quick, rungs=20),
              8: lambda: poses_population_table(args.quick)}
    for number in [args.table] if args.table else range(1, 9):
        tables[number]()


if __name__ == "__main__":
    main()
