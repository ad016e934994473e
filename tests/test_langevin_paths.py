"""langevin's Markov chains on paths (algorithm="path-mcmc", what the default ``auto`` runs for
every prior but a mixture): the law of one returned path against references written here or
in latent_bridge.testing, independently of the sampler: two-well priors in 1, 2 and 8
dimensions (a 1-D Fokker-Planck reference), stiff Gaussian priors in 2 and 64 dimensions
(exact Gaussian conditioning of the linear SDE), the preconditioned diffusion against ``ou``;
diagnostics that warn; no silent blow-up; the sampler's cost; which algorithm ``auto`` picks.
The mixture priors below name path-mcmc (``CHAINS``); at auto's defaults a mixture runs
path-smc, whose law test_path_smc checks on the same references.

Each returned path is the last state of its own chain, so the n_paths paths of one call are
n_paths independent default runs: their empirical law is the law of one default path."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.linalg import expm
from scipy.stats import chi2

import latent_bridge as lb
from latent_bridge.langevin import RHAT_LIMIT
from latent_bridge.priors import Gaussian, GaussianMixture, Independent, Prior
from latent_bridge.testing import fokker_planck_reference
from test_sde import one_torch_thread, seeded  # noqa: F401

WELL = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [[0.5], [0.5]])
ASYMMETRIC = GaussianMixture([0.7, 0.3], [[-1.5], [2.0]], [[0.4], [0.6]])
GRID = np.linspace(-7.0, 7.0, 1401)
CHAINS = {"algorithm": "path-mcmc"}   # what a mixture prior needs named to run the chains


def product_mixture(d):
    """The d-fold product of WELL written as one mixture of 2^d corners (not known to be a product)."""
    corners = torch.tensor(list(itertools.product([-2.0, 2.0], repeat=d)))
    k = corners.shape[0]
    return GaussianMixture(torch.full((k,), 1.0 / k), corners, torch.full((k, d), 0.5))


def reference_1d(prior, x0, x1, T):
    """From the 1-D Fokker-Planck reference (grid step 0.01): P(X < 0) at T/4, T/2, 3T/4 and
    P(|X| < 0.5) at T/2 (the OU-like guide puts 0.3-0.4 there, the bridge under 0.1)."""
    def energy(x):
        return prior.energy(torch.from_numpy(np.asarray(x, dtype=np.float64))[:, None]).numpy()
    density = fokker_planck_reference(energy, x0, x1, T, [T / 4, T / 2, 3 * T / 4], GRID)
    step = GRID[1] - GRID[0]
    below = np.array([(row[GRID < 0].sum() + 0.5 * row[GRID == 0].sum()) * step for row in density])
    return below, density[1][np.abs(GRID) < 0.5].sum() * step


def assert_well_statistics(x, exact_below, exact_middle):
    """x: float64 (R, 3) one coordinate's paths at T/4, T/2, 3T/4 (oriented from the -2 well).
    Each fraction within 3 standard errors of a fraction of R independent draws, sqrt(p (1 - p)
    / R) at the exact p, plus 0.01 for the time discretisation (the discretised bridge of 100
    steps is within 0.003 of the reference on this case, by a transfer-matrix computation)."""
    runs = x.shape[0]
    below = (x < 0).mean(0)
    middle = (np.abs(x[:, 1]) < 0.5).mean()
    se = np.sqrt(exact_below * (1 - exact_below) / runs)
    assert (np.abs(below - exact_below) < 3 * se + 0.01).all(), (below, exact_below, se)
    assert abs(middle - exact_middle) < 3 * math.sqrt(exact_middle * (1 - exact_middle) / runs) + 0.01, \
        (middle, exact_middle)


@pytest.mark.parametrize("prior, x0, x1, T", [(WELL, -2.0, 2.0, 3.0), (ASYMMETRIC, 2.0, -1.5, 2.5)])
def test_chains_follow_the_1d_bridge_between_wells(prior, x0, x1, T):
    # 600 paths of path-mcmc at its defaults (600 chains). Measured on this seed: at most 1.0 (two-well) and 2.3
    # (asymmetric) standard errors off; 0 sweeps (the guide's bridge itself) puts 0.30 of the
    # two-well midpoint mass within 0.5 of 0, against 0.06: 25 standard errors off.
    exact_below, exact_middle = reference_1d(prior, x0, x1, T)
    run = lb.registry.get("langevin", prior=prior, T=T, **CHAINS).run(torch.tensor([x0]), torch.tensor([x1]),
                                                                       frames=5, n_paths=600, generator=seeded(0))
    assert_well_statistics(run.latents[:, 1:-1, 0].double().numpy(), exact_below, exact_middle)


@pytest.mark.parametrize("d, runs", [(2, 400), (8, 300)])
def test_default_paths_follow_the_product_two_well_bridge_in_every_coordinate(d, runs):
    # The bridge of a product diffusion is the product of the 1-D bridges: every coordinate's
    # marginals are the 1-D reference's. Coordinates alternate -2 -> 2 and 2 -> -2. d = 2 is
    # the 4-component mixture (moved in coordinate blocks, acceptance of the joint density);
    # d = 8 the product prior lb.priors.Independent (each coordinate moved on its own), which
    # the default auto runs with path-mcmc (the 4-component mixture gets path-smc from auto:
    # test_path_smc has its law; here the chains are named).
    # Measured on this seed: at most 2.5 (d = 2) and 3.1 (d = 8, 32 statistics) standard errors
    # off. The old default (algorithm="smc", 200 steps) gives 0.908, 0.770, 0.598 at d = 2 (21
    # standard errors off) and 0 sweeps 0.32 of the midpoint mass near 0 (22): both fail.
    prior = product_mixture(d) if d == 2 else Independent(WELL, d)
    sign = torch.tensor([(-1.0) ** i for i in range(d)])
    exact_below, exact_middle = reference_1d(WELL, -2.0, 2.0, 3.0)
    sampler = lb.registry.get("langevin", prior=prior, T=3.0, **(CHAINS if d == 2 else {}))
    assert sampler.config.algorithm == "path-mcmc"
    run = sampler.run(-2 * sign, 2 * sign, frames=5, n_paths=runs, generator=seeded(1))
    oriented = (run.latents[:, 1:-1].double() * sign).numpy()
    for i in range(d):
        assert_well_statistics(oriented[:, :, i], exact_below, exact_middle)


def test_tempered_chains_follow_the_product_two_well_bridge():
    # rungs = 6: each returned path is the beta = 1 rung of its own ladder of 6 replicas that
    # exchange paths (parallel tempering). The 4-corner mixture of the test above (d = 2,
    # coordinate blocks), 240 ladders. Measured on this seed: at most 2.0 standard errors off;
    # neighbouring rungs exchange on 0.32-0.75 of tries. With the exchange's log-probability of
    # the wrong sign the cold rungs keep paths nearer the guide's (0.13-0.17 of the midpoint
    # mass near 0 against 0.06, 6.9 standard errors): it fails.
    sign = torch.tensor([1.0, -1.0])
    exact_below, exact_middle = reference_1d(WELL, -2.0, 2.0, 3.0)
    run = lb.registry.get("langevin", prior=product_mixture(2), T=3.0, rungs=6, **CHAINS).run(
        -2 * sign, 2 * sign, frames=5, n_paths=240, generator=seeded(2))
    oriented = (run.latents[:, 1:-1].double() * sign).numpy()
    for i in range(2):
        assert_well_statistics(oriented[:, :, i], exact_below, exact_middle)
    d = run.diagnostics
    assert d["rungs"] == 6 and len(d["swap_acceptance"]) == 5 and min(d["swap_acceptance"]) > 0.2, d
    assert max(d["swap_acceptance"]) < 0.95, d  # untempered rungs (all at beta 1) would exchange every time
    assert d["chains"] == 240 and "warnings" not in d, d


def test_a_ladder_whose_rungs_do_not_exchange_says_so():
    # Two rungs, beta 0 and 1, on a path whose log-density against the guide's bridge is far
    # from 0 for the bridge's paths (400 steps): exchanges between them are rarely accepted
    # (measured 0.005 of tries), and the run says to raise rungs.
    run = lb.registry.get("langevin", prior=product_mixture(2), T=3.0, rungs=2, steps=400, **CHAINS).run(
        torch.tensor([-2.0, 2.0]), torch.tensor([2.0, -2.0]), frames=5, n_paths=1, generator=seeded(3))
    d = run.diagnostics
    assert d["swap_acceptance"][0] < 0.1
    assert any("neighbouring rungs exchanged paths on only" in w and "raise rungs" in w for w in d["warnings"]), d


def langevin_bridge_moments(mean, covariance, x0, x1, T, t):
    """Exact mean (d,) and covariance (d, d) at time t of the bridge of dX = -S^-1 (X - m) dt +
    sqrt(2) dW from x0 to x1 over T, by Gaussian conditioning of (X(t), X(T)): with A = S^-1,
    X(s) = m + e^{-A s} (x0 - m) + noise of covariance V(s) = S (I - e^{-2 A s}), and
    cov(X(t), X(T)) = V(t) e^{-A (T - t)}."""
    precision = np.linalg.inv(covariance)
    decay = lambda s: expm(-precision * s)  # noqa: E731
    v = lambda s: covariance @ (np.eye(len(mean)) - decay(2 * s))  # noqa: E731
    mean_t, mean_T = mean + decay(t) @ (x0 - mean), mean + decay(T) @ (x0 - mean)
    cross = v(t) @ decay(T - t)
    gain = cross @ np.linalg.inv(v(T))
    return mean_t + gain @ (x1 - mean_T), v(t) - gain @ cross.T


def random_gaussian(eigenvalues, seed):
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return rng.standard_normal(len(eigenvalues)), rotation @ np.diag(eigenvalues) @ rotation.T


def assert_gaussian_law(paths, times, moments, runs):
    """paths: float64 (R, frames, d). At each interior frame, whitened by the exact covariance:
    every mean within 4 standard errors (1 / sqrt(R)) and their chi-square over the
    coordinates below its 0.9999 quantile; every variance within 4 standard errors of 1
    (sqrt(2 / (R - 1)))."""
    for j, t in enumerate(times[1:-1], start=1):
        mean, covariance = moments(t)
        values, vectors = np.linalg.eigh(covariance)
        white = (paths[:, j] - mean) @ vectors / np.sqrt(values)
        z = white.mean(0) * math.sqrt(runs)
        assert np.abs(z).max() < 4 and (z * z).sum() < chi2.ppf(0.9999, len(mean)), (t, np.abs(z).max())
        assert np.abs(white.var(0, ddof=1) - 1).max() < 4 * math.sqrt(2 / (runs - 1)), t


@pytest.mark.parametrize("eigenvalues", [np.array([0.002, 1.0]), np.geomspace(0.002, 20.0, 64)],
                         ids=["2-D, variance 0.002", "64-D, condition 1e4"])
def test_stiff_gaussian_prior_gives_the_exact_langevin_bridge(eigenvalues):
    # The linear SDE's bridge is Gaussian: the guide is exact, so every default path is a draw
    # of it whatever the stiffness (the old default's explicit steps reached 1e17 at 0.002).
    d, runs, T = len(eigenvalues), 400, 1.0
    mean, covariance = random_gaussian(eigenvalues, seed=d)
    rng = np.random.default_rng(0)
    x0, x1 = rng.standard_normal(d), rng.standard_normal(d)
    sampler = lb.registry.get("langevin", prior=Gaussian(mean, covariance), T=T)
    run = sampler.run(torch.tensor(x0), torch.tensor(x1), frames=6, n_paths=runs, generator=seeded(2))
    assert run.diagnostics["exact"] and run.diagnostics["acceptance"] == 1.0 and "warnings" not in run.diagnostics
    assert_gaussian_law(run.latents.double().numpy(), run.times.numpy(),
                        lambda t: langevin_bridge_moments(mean, covariance, x0, x1, T, t), runs)


def test_preconditioned_diffusion_with_a_gaussian_prior_is_the_ou_bridge_with_that_prior():
    # dX = -(X - m) dt + sqrt(2) S^(1/2) dW: mean m + w0 (x0 - m) + w1 (x1 - m) and covariance
    # c(t, t) S with the OU bridge's weights and variance (ou's own closed forms, checked
    # against the OU transition elsewhere), written out here.
    d, runs, T = 16, 400, 0.8
    mean, covariance = random_gaussian(np.geomspace(0.01, 4.0, d), seed=3)
    rng = np.random.default_rng(1)
    x0, x1 = rng.standard_normal(d), rng.standard_normal(d)
    prior = Gaussian(mean, covariance)
    sampler = lb.registry.get("langevin", prior=prior, T=T, diffusion="preconditioned")
    run = sampler.run(torch.tensor(x0), torch.tensor(x1), frames=5, n_paths=runs, generator=seeded(3))

    def ou_moments(t):
        w0, w1 = math.sinh(T - t) / math.sinh(T), math.sinh(t) / math.sinh(T)
        c = (1 - math.exp(-2 * t)) * (1 - math.exp(-2 * (T - t))) / (1 - math.exp(-2 * T))
        return mean + w0 * (x0 - mean) + w1 * (x1 - mean), c * covariance

    assert_gaussian_law(run.latents.double().numpy(), run.times.numpy(), ou_moments, runs)
    ou = lb.registry.get("ou", T=T, prior=prior)
    torch.testing.assert_close(ou.mean(run.times, torch.tensor(x0), torch.tensor(x1)),
                               torch.stack([torch.tensor(ou_moments(float(t))[0]) for t in run.times]))


def test_the_two_diffusions_differ_under_a_gaussian_prior():
    # Same stationary law, different bridges: the plain Langevin bridge of N(0, 0.05) is pinned
    # near 0 in the middle (rate 20), the preconditioned one moves at rate 1.
    prior = Gaussian([0.0], [[0.05]])
    plain, preconditioned = (lb.registry.get("langevin", prior=prior, T=2.0, diffusion=kind).run(
        torch.tensor([1.0]), torch.tensor([1.0]), frames=5, n_paths=200, generator=seeded(4)).latents[:, 2, 0]
        for kind in ("langevin", "preconditioned"))
    assert abs(float(plain.mean())) < 0.1 and float(preconditioned.mean()) > 0.2


# --- diagnostics, stiffness, cost ------------------------------------------------------------


@pytest.mark.parametrize("rungs", [1, 4], ids=["plain", "tempered"])
@pytest.mark.parametrize("prior", [product_mixture(2), Independent(WELL, 2)], ids=["mixture", "product"])
def test_recorded_log_density_is_that_of_each_chains_state(prior, rungs):
    # The diagnostics' log-density trace is kept up to date move by move (accepted windows and
    # blocks only, and with tempering through the exchanges between rungs, which move paths and
    # their per-step terms together); after the last sweep it must equal Phi recomputed from the
    # final paths of the beta = 1 rung.
    from latent_bridge.path_mcmc import frame_for, linear_guide, local_linearisation, run_chains, step_log_ratio
    frame = frame_for(prior, 2, "langevin")
    guide = linear_guide(frame, 2)
    y0, y1 = frame.to_frame(torch.tensor([-2.0, 2.0], dtype=torch.float64)), frame.to_frame(
        torch.tensor([2.0, -2.0], dtype=torch.float64))
    found = run_chains(frame, guide, y0, y1, 40, 3.0 / 40, 5, 30, 8, 1.0, 1,
                       lambda paths: paths.new_zeros((paths.shape[0], 0)), seeded(3), rungs=rungs)
    phi = step_log_ratio(found.paths, 3.0 / 40, frame, local_linearisation(frame, guide), guide, False).sum(1)
    assert found.log_density.shape == (31, 5) and 0 < found.acceptance < 1
    torch.testing.assert_close(found.log_density[-1], phi)
    assert (found.log_density[1:] != found.log_density[:-1]).any(1).float().mean() > 0.5  # it moves


def test_a_starved_run_warns_and_a_gaussian_run_says_nothing():
    starved = lb.registry.get("langevin", prior=WELL, T=3.0, sweeps=2, **CHAINS).run(
        torch.tensor([-2.0]), torch.tensor([2.0]), frames=9, n_paths=2, generator=seeded(5))
    assert any("only 2 sweeps" in w and "raise sweeps" in w for w in starved.diagnostics["warnings"])
    exact = lb.registry.get("langevin", T=1.0).run(torch.zeros(3), torch.ones(3), frames=6, n_paths=2,
                                                    generator=seeded(5))
    assert exact.diagnostics["exact"] and "warnings" not in exact.diagnostics


def test_chains_that_disagree_say_so():
    # Moves of 0.05 (rho near 1): each chain barely leaves its start in 100 sweeps, and the
    # paths stay near the guide's bridge (0.25 of the midpoint mass within 0.5 of 0 over 1,000
    # paths, against 0.06). The paths' log-density disagrees between chains (R-hat 1.88 or more
    # on 40 of 40 seeds, 7.2 the median) and the warning names what to raise.
    run = lb.registry.get("langevin", prior=WELL, T=3.0, move=0.05, **CHAINS).run(
        torch.tensor([-2.0]), torch.tensor([2.0]), frames=9, n_paths=1, generator=seeded(6))
    d = run.diagnostics
    assert d["chains"] == 4 and 0 < d["acceptance"] <= 1 and d["rhat_density"] > RHAT_LIMIT
    assert any("chains disagree on the paths' log-density" in w and "raise sweeps" in w for w in d["warnings"])


@pytest.mark.parametrize("prior, x0, x1, T", [(WELL, [-2.0], [2.0], 3.0), (ASYMMETRIC, [2.0], [-1.5], 2.5),
                                             (Independent(WELL, 8), [-2.0, 2.0] * 4, [2.0, -2.0] * 4, 3.0)],
                         ids=["two-well", "asymmetric", "8-D product"])
def test_chain_runs_whose_paths_are_right_do_not_warn(prior, x0, x1, T):
    # path-mcmc's paths on these priors at its defaults follow the reference (the tests above);
    # their runs say nothing. The paths' projections still mix slowly (R-hat 1.3-7 at 100 sweeps, as slow on
    # these as on poses: docs/methods.md, "Diagnostics"), so a warning keyed on them fired on
    # every one of these runs. The log-density's R-hat over these 16 seeds: medians 1.15, 1.23
    # and 1.13, at most 1.35, 1.40 and 1.32; above sqrt(2) on none of 120 such runs. Two
    # warnings in 16 are allowed (R-hat from 4 chains is noisy, and another CPU's rounding can
    # flip an accept decision and so draw other chains); the median must stay clear of the limit.
    rhats, warned = [], 0
    for seed in range(16):
        d = lb.registry.get("langevin", prior=prior, T=T, **CHAINS).run(
            torch.tensor(x0), torch.tensor(x1), frames=9, n_paths=1, generator=seeded(seed)).diagnostics
        rhats.append(round(d["rhat_density"], 2))
        warned += "warnings" in d
        assert ("warnings" in d) == (d["rhat_density"] > RHAT_LIMIT), d
    assert warned <= 2 and float(np.median(rhats)) < 1.3, rhats


def test_a_steep_prior_without_known_curvature_is_refused_before_any_path():
    class Steep(Prior):
        dim = 1

        def _energy(self, z):
            return 0.5e6 * (z * z).sum(1)

        def _grad(self, z):
            return 1e6 * z

    with pytest.raises(ValueError, match=r"too steep for time steps of 0\.01.* raise steps"):
        lb.registry.get("langevin", prior=Steep()).sample(torch.tensor([1.0]), torch.tensor([-1.0]), frames=5)


def test_a_mixture_with_tiny_components_is_stepped_exactly_and_stays_finite():
    # Standard deviations of 1e-3 (the smallest a fitted prior allows): explicit steps of T/100
    # would multiply by 1 - 0.01 / 1e-6 each; the exact linear part cannot blow up.
    prior = GaussianMixture([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [[1e-3, 1.0], [1e-3, 1.0]])
    run = lb.registry.get("langevin", prior=prior, sweeps=10, **CHAINS).run(
        torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0]), frames=5, n_paths=4, generator=seeded(7))
    assert torch.isfinite(run.latents).all() and run.latents.abs().max() < 10


def test_work_units_grow_with_sweeps_blocks_rungs_and_size_and_skip_exact_priors():
    mixture = lb.registry.get("langevin", prior="mixture", **CHAINS)
    assert mixture.work_units(64, 128) == 2 * mixture.work_units(64, 64)  # 8 blocks of 16 or of 8 numbers
    assert mixture.work_units(64, 4) * 16 < mixture.work_units(64, 64)    # 4 blocks of one number: fewer
    more = lb.registry.get("langevin", prior="mixture", blocks=32, **CHAINS)
    assert more.work_units(64, 64) > 3 * mixture.work_units(64, 64) and more.block_size(64) == 2
    longer = lb.registry.get("langevin", prior="mixture", sweeps=200, **CHAINS)
    assert longer.work_units(64, 64) > 1.9 * mixture.work_units(64, 64)
    assert lb.registry.get("langevin").work_units(64, 4096) < mixture.work_units(64, 64)  # exact: no sweeps
    assert mixture.memory_bytes(64, 64, paths=8) == 2 * mixture.memory_bytes(64, 64, paths=4)
    tempered = lb.registry.get("langevin", prior="mixture", rungs=5, **CHAINS)
    assert tempered.work_units(64, 64) == 5 * mixture.work_units(64, 64)
    assert tempered.memory_bytes(64, 64) == 5 * mixture.memory_bytes(64, 64)
    exact = lb.registry.get("langevin", rungs=5)   # a Gaussian prior runs no sweeps, so no ladder
    assert exact.work_units(64, 64) == lb.registry.get("langevin").work_units(64, 64)
    assert exact.memory_bytes(64, 64) == lb.registry.get("langevin").memory_bytes(64, 64)


@pytest.mark.parametrize("params, message", [
    ({"particles": 16}, r"particles is a parameter of algorithm 'smc'; with algorithm 'path-mcmc' \(what 'auto' runs "
                        r"for a prior that is not a mixture\) it has no effect"),
    ({"prior": "mixture", "sweeps": 50}, r"sweeps is a parameter of algorithm 'path-mcmc'; with algorithm 'path-smc' "
                                         r"\(what 'auto' runs for a mixture prior of several components\) it has no "
                                         r"effect: leave it out, or set algorithm='path-mcmc'"),
    ({"prior": WELL, "rungs": 4}, r"rungs is a parameter of algorithm 'path-mcmc'; with algorithm 'path-smc' \(what"),
    ({"algorithm": "smc", "sweeps": 5}, "sweeps is a parameter of algorithm 'path-mcmc'"),
    ({"algorithm": "smc", "particles": 4096}, r"max_particles must be at least particles \(4096\); got 2048"),
    ({"algorithm": "smc", "diffusion": "preconditioned"}, "algorithm 'smc' bridges the plain Langevin diffusion only"),
    ({"move": 0.0}, r"move must be in \(0, 1\]"),
    ({"window": 1}, r"window must be in \[2,"),
    ({"chains": 1}, r"chains must be in \[2,"),
    ({"rungs": 0}, r"rungs must be in \[1,"),
    ({"algorithm": "smc", "rungs": 4}, "rungs is a parameter of algorithm 'path-mcmc'"),
    ({"algorithm": "path-smc", "sweeps": 400}, "sweeps is a parameter of algorithm 'path-mcmc'; with algorithm "
                                               "'path-smc' it has no effect"),
    ({"population": 64}, "population is a parameter of algorithm 'path-smc'; with algorithm 'path-mcmc'"),
    ({"islands": 2}, "islands is a parameter of algorithm 'path-smc'; with algorithm 'path-mcmc'"),
    ({"algorithm": "path-mcmc", "prior": "mixture", "islands": 2}, "islands is a parameter of algorithm 'path-smc'; "
                                                                   "with algorithm 'path-mcmc' it has no effect"),
    ({"algorithm": "path-smc", "islands": 0}, r"islands must be in \[1,"),
    ({"algorithm": "smc", "window": 4}, "window is a parameter of algorithm 'path-mcmc' or 'path-smc'"),
    ({"algorithm": "path-smc", "moves": 0}, r"moves must be in \[1,"),
])
def test_inconsistent_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        lb.registry.get("langevin", **params)


ONE_COMPONENT = GaussianMixture([1.0], [[0.0, 1.0]], [[1.0, 0.5]])


@pytest.mark.parametrize("prior, components, algorithm", [
    ("mixture", 8, "path-smc"), ("mixture", 2, "path-smc"), ("mixture", 1, "path-mcmc"), (WELL, 8, "path-smc"),
    (product_mixture(3), 8, "path-smc"), (ONE_COMPONENT, 8, "path-mcmc"), (Independent(WELL, 4), 8, "path-mcmc"),
    ("standard-normal", 8, "path-mcmc"), ("fitted", 8, "path-mcmc"), ("diagonal", 8, "path-mcmc"),
    (Gaussian([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]]), 8, "path-mcmc"),
], ids=["named mixture", "named, 2 components", "named, 1 component", "two wells", "8 corners", "1 component",
        "product of two wells", "standard normal", "fitted", "diagonal", "Gaussian"])
def test_auto_runs_path_smc_for_a_mixture_and_the_chains_for_other_priors(prior, components, algorithm):
    # Where Markov chains keep their route between a mixture's modes (poses, xfail below),
    # auto carries populations instead; every other prior keeps the chains. What ran is named
    # in the params (and so in a pipeline result) and stays when the pipeline fits the prior.
    params = {"components": components} if prior == "mixture" else {}
    sampler = lb.registry.get("langevin", prior=prior, **params)
    assert sampler.config.algorithm == algorithm and sampler.params()["algorithm"] == algorithm
    if prior == "mixture":
        fitted = sampler.with_prior(product_mixture(2) if components > 1 else ONE_COMPONENT)
        assert fitted.config.algorithm == algorithm


def test_a_mixture_run_takes_path_smcs_parameters_and_reports_it():
    run = lb.registry.get("langevin", prior=WELL, T=3.0, population=4, islands=2, moves=2, temperatures=4).run(
        torch.tensor([-2.0]), torch.tensor([2.0]), frames=5, n_paths=3, generator=seeded(11))
    assert run.latents.shape == (3, 5, 1) and torch.isfinite(run.latents).all()
    assert run.diagnostics["algorithm"] == "path-smc" and run.diagnostics["islands"] == 2, run.diagnostics


def test_independent_prior_sums_its_factors():
    prior = Independent(WELL, 3)
    z = torch.tensor([[0.3, -1.0, 2.5]], dtype=torch.float64)
    assert float(prior.energy(z)) == pytest.approx(float(WELL.energy(z.reshape(3, 1)).sum()))
    torch.testing.assert_close(prior.grad_energy(z).reshape(3, 1), WELL.grad_energy(z.reshape(3, 1)))
    torch.testing.assert_close(prior.log_prob(z), WELL.log_prob(z.reshape(3, 1)).sum().reshape(1))


@pytest.mark.xfail(strict=True, reason="known limit of path-mcmc, which is why auto runs path-smc for a mixture "
                   "(docs/methods.md, 'Which algorithm'): on poses' fitted 8-component mixture "
                   "the paths pass through other components on the way and each chain holds its route for hundreds "
                   "to thousands of sweeps. The law of the returned paths is still moving after the default 100 "
                   "sweeps: of 128 independent paths, 0.59 spend over a tenth of their frames in component 2 after "
                   "100 sweeps, 0.50 after 400, 0.30-0.33 after 1,600 and 3,200 and 0.19 after 4,000 (standard error "
                   "0.03-0.04), against about "
                   "0.1 from 8 chains of 8,000 and 16,000 sweeps (their later eighths), 0.11 +- 0.01 from parallel "
                   "tempering and 0.08-0.16 from algorithm='path-smc' (one population or 4 islands, whose runs agree: "
                   "benchmark table 8, and test_path_smc's long test). The "
                   "chains' log-density R-hat: 2.0 here, 1.5-1.7 after 800 sweeps. The run warns.")
def test_poses_chains_agree_on_the_fitted_mixture():
    # 64-D, T = 1 between two component centres, 64 frames: 8 chains of path-mcmc agree on the
    # paths' log-density (split R-hat over their second halves at most sqrt(2), the limit that
    # warns; the known-right cases above stay under it at the defaults, at most 1.40), on two
    # seeds (one could pass by chance; measured 2.02 and 1.76).
    prior = lb.priors.for_model(lb.models.load("poses"), kind="mixture")
    for seed in (8, 9):
        run = lb.registry.get("langevin", prior=prior, T=1.0, chains=8, **CHAINS).run(
            prior.means[0].float(), prior.means[1].float(), frames=64, n_paths=1, generator=seeded(seed))
        assert run.diagnostics["rhat_density"] <= RHAT_LIMIT, run.diagnostics


def test_poses_chain_run_says_its_chains_disagree_and_names_the_exact_alternative():
    # What a user who names path-mcmc gets on poses (the xfail above): a warning that names
    # more sweeps, path-smc and the exact bridge of the preconditioned diffusion. It
    # came on 19 of 20 seeds (log-density R-hat 1.71 the median); of two runs, one must warn.
    prior = lb.priors.for_model(lb.models.load("poses"), kind="mixture")
    warned = []
    for seed in (9, 10):
        run = lb.registry.get("langevin", prior=prior, T=1.0, **CHAINS).run(
            prior.means[0].float(), prior.means[1].float(), frames=64, n_paths=2, generator=seeded(seed))
        d = run.diagnostics
        assert d["chains"] == 4 and torch.isfinite(run.latents).all()
        says = [w for w in d.get("warnings", []) if "chains disagree on the paths' log-density" in w]
        assert bool(says) == (d["rhat_density"] > RHAT_LIMIT), d
        warned += says
    assert warned and all("raise sweeps" in w and "ou with the fitted prior" in w for w in warned), warned
