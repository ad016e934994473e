"""langevin's algorithm="path-smc" (latent_bridge.path_smc), what the default ``auto`` runs for
a mixture prior: populations of paths tempered from the guide's bridge to the bridge. Its pieces against formulas written here (the
conditional effective sample size, systematic resampling's counts), the law of its returned
paths at its defaults against the Fokker-Planck references of test_langevin_paths (1-D two
wells, the 2-D four-corner mixture), its warnings, its cost.

The paths of one run share ancestors (resampling), so they are not independent: the standard
errors below come from the spread of whole runs' means (each run's fraction is one draw), not
from the number of paths."""

import dataclasses
import math
import os

import numpy as np
import pytest
import torch

import latent_bridge as lb
from latent_bridge.path_smc import next_temperature
from latent_bridge.sde import systematic_resample
from latent_bridge.priors import Gaussian
from test_langevin_paths import ASYMMETRIC, WELL, product_mixture, reference_1d
from test_sde import one_torch_thread, seeded  # noqa: F401


def test_next_temperature_keeps_the_conditional_ess_at_its_target():
    generator = torch.Generator().manual_seed(0)
    log_weights = torch.randn(200, generator=generator, dtype=torch.float64)
    phi = 30 * torch.randn(200, generator=generator, dtype=torch.float64)
    for beta, target in ((0.0, 0.9), (0.3, 0.5)):
        new = next_temperature(log_weights, phi, beta, target)
        w = np.exp(log_weights.numpy() - log_weights.numpy().max())
        w /= w.sum()
        increment = np.exp((new - beta) * phi.numpy())
        conditional = (w @ increment) ** 2 / (w @ increment ** 2)
        assert beta < new < 1 and abs(conditional - target) < 1e-6, (new, conditional)
    assert next_temperature(log_weights, torch.full((200,), 5.0, dtype=torch.float64), 0.2, 0.9) == 1.0


def test_next_temperature_of_islands_is_the_step_each_allows():
    # Islands share the schedule: the step is the smallest of those the islands allow alone.
    generator = torch.Generator().manual_seed(5)
    log_weights = torch.randn(3, 100, generator=generator, dtype=torch.float64)
    phi = torch.randn(3, 100, generator=generator, dtype=torch.float64) * torch.tensor([[5.0], [40.0], [10.0]])
    alone = [next_temperature(log_weights[i], phi[i], 0.1, 0.9) for i in range(3)]
    assert next_temperature(log_weights, phi, 0.1, 0.9) == min(alone) == alone[1] < alone[0]


def test_systematic_resampling_copies_each_path_its_share():
    # Systematic resampling gives path i floor(N w_i) or ceil(N w_i) copies.
    generator = torch.Generator().manual_seed(1)
    log_weights = 3 * torch.randn(64, generator=generator, dtype=torch.float64)
    share = 64 * torch.softmax(log_weights, 0)
    for _ in range(20):
        counts = torch.bincount(systematic_resample(log_weights, 64, generator), minlength=64).double()
        assert ((counts >= share.floor()) & (counts <= share.ceil())).all()


PATHS = 128     # a default run's paths: 4 islands of 32


def run_fractions(prior, x0, x1, T, runs, seed, orient=None, **params):
    """P(X < 0) at T/4, T/2, 3T/4 and P(|X(T/2)| < 0.5) of every coordinate, per run of
    langevin at its defaults (or ``params``) with all its paths (4 islands of 32) returned:
    float64 (runs, 4, d). ``prior`` is a mixture, so the default runs path-smc."""
    sampler = lb.registry.get("langevin", prior=prior, T=T, **params)
    assert sampler.config.algorithm == "path-smc", sampler.config
    fractions = []
    for r in range(runs):
        run = sampler.run(x0, x1, frames=5, n_paths=PATHS, generator=seeded(seed + r))
        x = run.latents[:, 1:-1].double()
        x = x if orient is None else x * orient
        assert "warnings" not in run.diagnostics, run.diagnostics
        fractions.append(torch.cat([(x < 0).double().mean(0), (x[:, 1:2].abs() < 0.5).double().mean(0)]).numpy())
    return np.stack(fractions)


def assert_runs_match(fractions, exact_below, exact_middle):
    """Each statistic's mean over runs within 3 standard errors of the reference, plus 0.01 for
    the time discretisation (as test_langevin_paths), which also covers the population's own
    bias (O(1 / population): about 0.01 at 32 paths with one sweep a temperature). The standard
    error is the runs' spread over sqrt(runs), but at least that of independent paths. These
    check the law against the continuous bridge; the exact check of the sampler is
    test_path_smc_draws_the_discretised_target_exactly below."""
    runs, _, d = fractions.shape
    exact = np.concatenate([exact_below, [exact_middle]])[:, None]
    spread = fractions.std(0, ddof=1) / math.sqrt(runs)
    independent = np.sqrt(exact * (1 - exact) / (PATHS * runs))
    se = np.maximum(spread, independent)
    off = np.abs(fractions.mean(0) - exact)
    assert (off < 3 * se + 0.01).all(), (fractions.mean(0), exact, se)


@pytest.mark.parametrize("prior, x0, x1, T", [(WELL, -2.0, 2.0, 3.0), (ASYMMETRIC, 2.0, -1.5, 2.5)])
def test_path_smc_follows_the_1d_bridge_between_wells(prior, x0, x1, T):
    # 16 runs of 128 paths (4 islands each, 64 in all). Measured on this seed: at most 2.4 (two-well) and 1.7
    # (asymmetric) standard errors off, the crossing fractions within 1.1.
    exact_below, exact_middle = reference_1d(prior, x0, x1, T)
    fractions = run_fractions(prior, torch.tensor([x0]), torch.tensor([x1]), T, 16, 0)
    assert_runs_match(fractions, exact_below, exact_middle)


def test_path_smc_weights_carry_the_law_where_the_moves_cannot():
    # One sweep a temperature: the moves alone leave the guide's bridge nearly as it is, and the
    # law comes from the weights and resampling. Measured on these seeds: at most 1.1 standard
    # errors off. With the weights left out (every path weighing the same) it is 6.3 off: it
    # fails (checked).
    exact_below, exact_middle = reference_1d(WELL, -2.0, 2.0, 3.0)
    fractions = run_fractions(WELL, torch.tensor([-2.0]), torch.tensor([2.0]), 3.0, 16, 0, moves=1)
    assert_runs_match(fractions, exact_below, exact_middle)


def test_path_smc_follows_the_product_two_well_bridge_in_2d():
    # The 4-corner mixture (test_langevin_paths), coordinates -2 -> 2 and 2 -> -2, 16 runs of
    # 128 paths (4 islands of 32). Measured on this seed: at most 2.7 standard errors off, on
    # the near-barrier mass (the time discretisation's excess, 0.079 and 0.073 against 0.061
    # over 100 earlier runs, which the 0.01 covers, as for path-mcmc); the crossing fractions
    # within 1.9.
    sign = torch.tensor([1.0, -1.0])
    exact_below, exact_middle = reference_1d(WELL, -2.0, 2.0, 3.0)
    fractions = run_fractions(product_mixture(2), -2 * sign, 2 * sign, 3.0, 16, 100, orient=sign.double())
    assert_runs_match(fractions, exact_below, exact_middle)


def discretised_marginals(prior, x0, x1, T, steps, grid=np.linspace(-9.0, 9.0, 3601)):
    """Exact marginals of the interior points of the sampler's discretised target, written from
    its formulas alone (path_mcmc's module docstring): the product over steps of
    q(x' | x) = N(x'; c + e^{-D h} (x - c), (1 - e^{-2 D h}) / D), with the 1-D mixture's
    D = sum_k gamma_k / s_k^2 and c = sum_k gamma_k m_k / s_k^2 / D (gamma the responsibilities),
    by forward-backward on a grid. Returns float64 (steps - 1, 3): P(X < 0), E X, E X^2."""
    w, m, sd = (t.reshape(-1).double().numpy() for t in (prior.weights, prior.means, prior.scales))
    h, dx = T / steps, grid[1] - grid[0]

    def log_q(after, before):
        before = np.asarray(before, dtype=float)
        logit = np.log(w) - np.log(sd) - 0.5 * (before[..., None] - m) ** 2 / sd ** 2
        gamma = np.exp(logit - logit.max(-1, keepdims=True))
        gamma /= gamma.sum(-1, keepdims=True)
        rate = (gamma / sd ** 2).sum(-1)
        centre = (gamma * m / sd ** 2).sum(-1) / rate
        var = -np.expm1(-2 * rate * h) / rate
        mean = centre + np.exp(-rate * h) * (before - centre)
        return -0.5 * (after - mean) ** 2 / var - 0.5 * np.log(2 * np.pi * var)

    kernel = np.exp(log_q(grid[None, :], grid[:, None]))              # [i, j]: q(grid_j | grid_i)
    forward = [np.exp(log_q(grid, x0))]
    backward = [np.exp(log_q(x1, grid))]
    for _ in range(steps - 2):
        forward.append(forward[-1] @ kernel * dx)
        backward.insert(0, kernel @ backward[0] * dx)
    rows = []
    for a, b in zip(forward, backward):
        density = a * b / ((a * b).sum() * dx)
        rows.append([(density[grid < 0].sum() + 0.5 * density[grid == 0].sum()) * dx,
                     (grid * density).sum() * dx, (grid ** 2 * density).sum() * dx])
    return np.array(rows)


@pytest.mark.parametrize("prior, x0, x1, T, params", [
    (WELL, -2.0, 2.0, 3.0, {"moves": 1, "islands": 1}),
    (ASYMMETRIC, 2.0, -1.5, 2.5, {"moves": 1, "temperatures": 2, "islands": 1}),
    (WELL, -2.0, 2.0, 3.0, {"moves": 1, "islands": 4}),
], ids=["one-move", "two-temperatures", "islands"])
def test_path_smc_draws_the_discretised_target_exactly(prior, x0, x1, T, params):
    # 4 time steps (3 interior points), where the target has an exact grid reference: then the
    # only error is the population's (SMC's bias, O(1 / population)), made small with 4,096
    # paths. 100 runs; z from the runs' spread, each of the 9 statistics within 4 standard
    # errors, no slack. With one sweep a temperature (or two temperatures) the weights and the
    # resampling carry the law. Measured on these seeds: at most 0.9 and 1.6 standard errors
    # off. Fails (checked) without the resampling at beta 1 (5.7 and 70 standard errors) and
    # with a log-density left stale by the resampling (24 and 28), which the tests above, whose
    # sweeps repair almost anything, let through. The islands case carries 4 islands of 1,024:
    # measured within 1.8.
    exact = discretised_marginals(prior, x0, x1, T, 4)
    population = 4096 // params["islands"]
    sampler = lb.registry.get("langevin", prior=prior, T=T, algorithm="path-smc", steps=4, population=population,
                              **params)
    runs = []
    for seed in range(100):
        x = sampler.run(torch.tensor([x0]), torch.tensor([x1]), frames=5, n_paths=4096,
                        generator=seeded(seed)).latents[:, 1:-1, 0].double().numpy()
        runs.append(np.stack([(x < 0).mean(0), x.mean(0), (x ** 2).mean(0)], 1))
    runs = np.stack(runs)
    z = (runs.mean(0) - exact) / (runs.std(0, ddof=1) / math.sqrt(len(runs)))
    assert (np.abs(z) < 4).all(), (runs.mean(0), exact, z)


def test_a_gaussian_prior_draws_the_exact_bridge_without_tempering():
    prior = Gaussian(torch.zeros(3), torch.diag(torch.tensor([0.5, 1.0, 2.0])))
    run = lb.registry.get("langevin", prior=prior, algorithm="path-smc").run(
        torch.ones(3), -torch.ones(3), frames=5, n_paths=3, generator=seeded(2))
    assert run.diagnostics == {"algorithm": "path-smc", "exact": True, "population": 32, "islands": 4, "steps": 100}


def test_a_schedule_cut_short_says_so():
    # Two temperatures where the weights ask for about ten: the run warns to raise temperatures.
    run = lb.registry.get("langevin", prior=product_mixture(2), T=3.0, algorithm="path-smc", temperatures=2).run(
        torch.tensor([-2.0, 2.0]), torch.tensor([2.0, -2.0]), frames=5, n_paths=2, generator=seeded(3))
    d = run.diagnostics
    assert d["temperatures"] == 2 and d["min_ess"] < 0.9
    assert any("raise temperatures" in w for w in d["warnings"]), d


def test_a_collapsed_population_says_so():
    # Two paths, one temperature, 400 steps: the weights of the two draws of the guide's bridge
    # differ by far more than a factor of ten, so both returned paths descend from one.
    run = lb.registry.get("langevin", prior=product_mixture(2), T=3.0, algorithm="path-smc", population=2,
                          islands=1, temperatures=1, steps=400).run(
        torch.tensor([-2.0, 2.0]), torch.tensor([2.0, -2.0]), frames=5, n_paths=2, generator=seeded(4))
    d = run.diagnostics
    assert d["ancestors"] == 1
    assert any("descend from one draw" in w and "raise population" in w for w in d["warnings"]), d


def test_work_units_grow_with_population_moves_and_temperatures():
    def work(**params):
        return lb.registry.get("langevin", prior="mixture", algorithm="path-smc", **params).work_units(64, 64, 1)
    base = work()
    assert work(population=64) == 2 * base
    assert 1.9 * base < work(moves=40) < 2 * base          # the 2 evaluations at the start do not double
    assert 1.9 * base < work(temperatures=128) < 2 * base
    assert work(islands=8) == 2 * base
    assert work(population=64) == lb.registry.get("langevin", prior="mixture", algorithm="path-smc").work_units(64, 64, 256)
    gaussian = lb.registry.get("langevin", prior="fitted", algorithm="path-smc")
    assert gaussian.work_units(64, 64, 1) < base / 100


def test_islands_keep_their_own_lineages_and_share_the_returned_paths():
    # Each island is resampled within itself: every path descends from a starting path of its
    # own island; a run's island size covers the paths asked for.
    prior = product_mixture(2)
    frame = lb.path_mcmc.frame_for(prior, 2, "langevin")
    guide = lb.path_mcmc.linear_guide(frame, 2)
    y0, y1 = torch.tensor([-2.0, 2.0], dtype=torch.float64), torch.tensor([2.0, -2.0], dtype=torch.float64)
    found = lb.path_smc.run_population(frame, guide, y0, y1, 40, 3.0 / 40, 16, 2, 64, 8, 1.0, 2, seeded(6),
                                       islands=3)
    rows = torch.arange(48)
    assert found.islands == 3 and found.paths.shape == (48, 41, 2)
    assert (found.origin // 16 == rows // 16).all()
    counts = [len(set(found.origin[16 * i:16 * (i + 1)].tolist())) for i in range(3)]
    assert found.ancestors == sum(counts) < 48 and found.fewest_ancestors == min(counts)
    sampler = lb.registry.get("langevin", prior=prior, T=3.0, algorithm="path-smc", population=4, islands=3)
    run = sampler.run(torch.tensor([-2.0, 2.0]), torch.tensor([2.0, -2.0]), frames=5, n_paths=14,
                      generator=seeded(7))
    d = run.diagnostics
    assert run.latents.shape == (14, 5, 2) and d["islands"] == 3 and d["population"] == 5   # ceil(14 / 3)
    assert sampler.work_units(5, 2, 14) == pytest.approx(15 / 12 * sampler.work_units(5, 2, 1), rel=1e-6)


def test_the_returned_paths_take_the_islands_in_turn(monkeypatch):
    # Each returned path is marked with the row it came from (island i holds rows 4 i to 4 i + 3):
    # 7 paths from 3 islands of 4 come from islands 0, 1, 2, 0, 1, 2, 0, no row twice.
    real = lb.langevin.run_population

    def marked(*args, **kwargs):
        found = real(*args, **kwargs)
        paths = torch.zeros_like(found.paths)
        paths[..., 0] = torch.arange(found.paths.shape[0], dtype=torch.float64)[:, None]
        return dataclasses.replace(found, paths=paths)

    monkeypatch.setattr(lb.langevin, "run_population", marked)
    prior = product_mixture(2)
    run = lb.registry.get("langevin", prior=prior, T=3.0, algorithm="path-smc", population=4, islands=3).run(
        torch.tensor([-2.0, 2.0]), torch.tensor([2.0, -2.0]), frames=5, n_paths=7, generator=seeded(8))
    frame = lb.path_mcmc.frame_for(prior, 2, "langevin")
    rows = frame.to_frame(run.latents[:, 2].double())[:, 0].round().long()
    assert (rows // 4).tolist() == [0, 1, 2, 0, 1, 2, 0] and rows.unique().numel() == 7, rows


LONG = os.environ.get("LATENT_BRIDGE_LONG_TESTS") == "1"


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="about 11 minutes on 2 cores: set LATENT_BRIDGE_LONG_TESTS=1 (benchmark table 8 "
                                     "is the same check over 6 runs)")
def test_poses_default_runs_agree_on_the_fitted_mixture():
    # The issue's check at what a user gets: langevin with poses' fitted 8-component mixture
    # (64-D), T = 1 between two component centres, 64 frames, the default algorithm (auto:
    # path-smc, 4 islands of 32). Three independent runs of 128 paths each must agree: the
    # Gelman-Rubin R-hat over the runs (each run's paths its draws, written out here) at most
    # 1.05 for the path's time average along z1 - z0 and along the mixture's two top principal
    # directions (its covariance computed here from the weights, means and scales), and its
    # midpoint along z1 - z0 and the first direction. With paths that share ancestors within a
    # run, disagreeing runs raise R-hat: one population a run (islands=1) read 1.14 and 1.18.
    # Measured (2 torch threads, 655 s): R-hat 1.040, 0.999, 0.997, 1.037, 1.006.
    prior = lb.priors.for_model(lb.models.load("poses"), kind="mixture")
    z0, z1 = prior.means[0].float(), prior.means[1].float()
    sampler = lb.registry.get("langevin", prior=prior, T=1.0)
    assert sampler.config.algorithm == "path-smc"
    w, m, s = prior.weights, prior.means, prior.scales
    mean = w @ m
    covariance = (w[:, None, None] * (torch.diag_embed(s * s) + m[:, :, None] * m[:, None, :])).sum(0) - torch.outer(
        mean, mean)
    top = torch.linalg.eigh(covariance)[1][:, [-1, -2]]
    along = (z1 - z0).double() / (z1 - z0).double().norm()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        draws = []
        for seed in (300, 301, 302):
            x = sampler.run(z0, z1, 64, n_paths=128, generator=seeded(seed)).latents.double()
            average, middle = x[:, 1:-1].mean(1), x[:, 32]
            draws.append(torch.stack([average @ along, average @ top[:, 0], average @ top[:, 1], middle @ along,
                                      middle @ top[:, 0]], 1))
    finally:
        torch.set_num_threads(threads)
    draws = torch.stack(draws)                                                # (runs, paths, 5)
    n = draws.shape[1]
    within, between = draws.var(1).mean(0), n * draws.mean(1).var(0)
    rhat = (((n - 1) / n * within + between / n) / within).sqrt()
    print(f"R-hat over the runs: {', '.join(f'{v:.3f}' for v in rhat.tolist())}")   # shown with -s
    assert (rhat <= 1.05).all(), rhat
