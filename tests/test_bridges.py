"""Samplers: the shared contract, the closed forms of docs/methods.md (sections "Ornstein-Uhlenbeck
bridge" and "Gaussian-process bridge"), moments of many draws, the sphere and straight-line
limits, loops, slerp, ill-conditioning and bad input.

Statistical tests use fixed seeds. Latent coordinates are independent and identically
distributed under every Gaussian bridge, so one call with n coordinates and constant
endpoints gives n independent draws of each frame."""

import math

import numpy as np
import pytest
import torch

import latent_bridge as lb
from latent_bridge.bridges import SMOOTH_CORRELATION, GPBridge, adjacent_correlation, frames_for_smooth_motion
from latent_bridge.kernels import Exponential, Periodic

SAMPLERS = [
    ("linear", {}),
    ("slerp", {}),
    ("ou", {"T": 1.5}),
    ("gp", {}),
    ("gp", {"kernel": "periodic", "T": 1.0}),
    ("gp", {"kernel": "matern", "nu": 1.5}),
    ("gp", {"kernel": "locally-periodic"}),
]
IDS = [name + "-" + "-".join(f"{k}={v}" for k, v in p.items()) for name, p in SAMPLERS]


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def endpoints(shape, seed=1):
    g = seeded(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def ou_mean(t, T, z0, z1):
    """docs/methods.md, "Ornstein-Uhlenbeck bridge": (z0 sinh(T-t) + z1 sinh t) / sinh T."""
    return (z0 * math.sinh(T - t) + z1 * math.sinh(t)) / math.sinh(T)


def ou_covariance(times, T):
    """docs/methods.md, "Ornstein-Uhlenbeck bridge": var(t) = (1 - e^-2t)(1 - e^-2(T-t)) / (1 - e^-2T)
    and, for s <= t, cov(s, t) = 2 sinh(s) sinh(T - t) / sinh(T) (equal at s = t)."""
    s, t = torch.meshgrid(times, times, indexing="ij")
    lo, hi = torch.minimum(s, t), torch.maximum(s, t)
    return 2 * torch.sinh(lo) * torch.sinh(T - hi) / math.sinh(T)


def ou_variance(t, T):
    return (1 - math.exp(-2 * t)) * (1 - math.exp(-2 * (T - t))) / (1 - math.exp(-2 * T))


# --- the shared contract ---------------------------------------------------------------------


@pytest.mark.parametrize("name, params", SAMPLERS, ids=IDS)
@pytest.mark.parametrize("shape", [(7,), (4, 32, 32)], ids=["vector", "sd-latent"])
def test_sample_shape_dtype_and_exact_endpoints(name, params, shape):
    z0, z1 = endpoints(shape)
    paths = lb.registry.get(name, **params).sample(z0, z1, frames=9, n_paths=3, generator=seeded())
    assert paths.shape == (3, 9, *shape) and paths.dtype == torch.float32
    assert torch.isfinite(paths).all()
    assert torch.equal(paths[:, 0], z0.expand(3, *shape))
    assert torch.equal(paths[:, -1], z1.expand(3, *shape))


@pytest.mark.parametrize("name, params", SAMPLERS, ids=IDS)
def test_two_frames_are_just_the_endpoints(name, params):
    z0, z1 = endpoints((5,))
    paths = lb.registry.get(name, **params).sample(z0, z1, frames=2, n_paths=2, generator=seeded())
    assert torch.equal(paths, torch.stack([z0, z1]).expand(2, 2, 5))


@pytest.mark.parametrize("name, params", SAMPLERS, ids=IDS)
def test_same_seed_gives_the_same_paths(name, params):
    z0, z1 = endpoints((4, 8, 8))
    sampler = lb.registry.get(name, **params)
    first = sampler.sample(z0, z1, frames=12, n_paths=2, generator=seeded(5))
    again = sampler.sample(z0, z1, frames=12, n_paths=2, generator=seeded(5))
    assert torch.equal(first, again)


@pytest.mark.parametrize("name, params", [s for s in SAMPLERS if s[0] in ("ou", "gp")], ids=IDS[2:])
def test_different_seeds_and_paths_differ(name, params):
    z0, z1 = endpoints((64,))
    sampler = lb.registry.get(name, **params)
    a = sampler.sample(z0, z1, frames=12, n_paths=2, generator=seeded(5))
    b = sampler.sample(z0, z1, frames=12, n_paths=2, generator=seeded(6))
    assert not torch.equal(a[:, 1:-1], b[:, 1:-1]) and not torch.equal(a[0, 1:-1], a[1, 1:-1])


def test_gp_from_a_kernel_object_equals_gp_from_flat_params():
    z0, z1 = endpoints((32,))
    from_object = lb.registry.get("gp", kernel=Periodic(length_scale=0.5, period=3.0), T=1.0)
    from_flat = lb.registry.get("gp", kernel="periodic", length_scale=0.5, period=3.0, T=1.0)
    assert torch.equal(
        from_object.sample(z0, z1, 10, 2, generator=seeded()), from_flat.sample(z0, z1, 10, 2, generator=seeded())
    )


# --- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("T", [0.05, 1.0, 4.0, 30.0])
@pytest.mark.parametrize("sampler", ["ou", "gp-exponential-1-1"])
def test_ou_bridge_mean_matches_closed_form(sampler, T):
    s = lb.registry.get("ou", T=T) if sampler == "ou" else GPBridge(kernel=Exponential(1.0, 1.0), T=T)
    z0, z1 = endpoints((3, 2))
    times = s.times(11)
    expected = torch.stack([ou_mean(float(t), T, z0.double(), z1.double()) for t in times])
    assert torch.allclose(s.mean(times, z0, z1), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("T", [0.05, 1.0, 4.0, 30.0])
@pytest.mark.parametrize("sampler", ["ou", "gp-exponential-1-1"])
def test_ou_bridge_covariance_matches_closed_form(sampler, T):
    s = lb.registry.get("ou", T=T) if sampler == "ou" else GPBridge(kernel=Exponential(1.0, 1.0), T=T)
    times = s.times(11)
    cov = s.covariance(times)
    variance = torch.tensor([ou_variance(float(t), T) for t in times], dtype=torch.float64)
    assert torch.allclose(cov.diagonal(), variance, rtol=1e-9, atol=1e-12)
    assert torch.allclose(cov, ou_covariance(times, T), rtol=1e-9, atol=1e-12)


# --- moments of many draws ---------------------------------------------------------------------


def empirical_moments(sampler, frames, draws, seed=0, z0=1.5, z1=-0.5):
    """Mean (M,) and covariance (M, M) over ``draws`` iid coordinates, from one sample call."""
    paths = sampler.sample(torch.full((draws,), z0), torch.full((draws,), z1), frames, generator=seeded(seed))
    x = paths[0].double()  # (M, draws)
    mean = x.mean(dim=1)
    centred = x - mean[:, None]
    return mean, centred @ centred.T / (draws - 1)


def assert_moments_match(sampler, frames, draws):
    """Empirical mean and covariance against sampler.mean / sampler.covariance, entry by entry,
    within 5 standard errors: SE(mean_i) = sqrt(C_ii / N) and SE(C_ij) = sqrt((C_ii C_jj +
    C_ij^2) / N) for Gaussian data. With ~100 entries, a false alarm has probability ~1e-5."""
    times = sampler.times(frames)
    mean, cov = empirical_moments(sampler, frames, draws)
    expected_mean = sampler.mean(times, torch.tensor([1.5]), torch.tensor([-0.5]))[:, 0]
    expected_cov = sampler.covariance(times)
    var = expected_cov.diagonal().clamp(min=0)
    assert ((mean - expected_mean).abs() <= 5 * (var / draws).sqrt() + 1e-6).all()
    se_cov = ((var[:, None] * var[None, :] + expected_cov**2) / draws).sqrt()
    assert ((cov - expected_cov).abs() <= 5 * se_cov + 1e-6).all()


@pytest.mark.parametrize("T", [0.1, 1.0, 5.0])
def test_ou_draws_match_closed_form_moments(T):
    sampler = lb.registry.get("ou", T=T)
    # Against the formulas of docs/methods.md directly, not through the sampler's own methods.
    frames, draws = 9, 40_000
    mean, cov = empirical_moments(sampler, frames, draws)
    times = sampler.times(frames)
    expected_mean = torch.tensor([ou_mean(float(t), T, 1.5, -0.5) for t in times], dtype=torch.float64)
    expected_cov = ou_covariance(times, T)
    var = expected_cov.diagonal()
    assert ((mean - expected_mean).abs() <= 5 * (var / draws).sqrt() + 1e-6).all()
    se_cov = ((var[:, None] * var[None, :] + expected_cov**2) / draws).sqrt()
    assert ((cov - expected_cov).abs() <= 5 * se_cov + 1e-6).all()


@pytest.mark.parametrize("T", [0.1, 1.0, 5.0])
def test_gp_exponential_1_1_draws_match_ou_closed_form_moments(T):
    assert_moments_match(GPBridge(kernel=Exponential(1.0, 1.0), T=T), frames=9, draws=40_000)


@pytest.mark.parametrize(
    "params", [{"kernel": "periodic", "T": 3.0}, {"kernel": "matern", "nu": 2.5}, {"kernel": "locally-periodic"}]
)
def test_gp_draws_match_its_mean_and_covariance(params):
    assert_moments_match(lb.registry.get("gp", **params), frames=9, draws=40_000)


def test_smooth_kernel_with_hundreds_of_frames_gives_finite_correct_samples():
    # Squared exponential with 300 frames: the interior covariance is singular to working
    # precision, Cholesky fails, and the clipped eigendecomposition must take over.
    sampler = lb.registry.get("gp", kernel="exponential", alpha=2.0, beta=1.0, T=4.0)
    run = sampler.run(torch.full((20_000,), 1.5), torch.full((20_000,), -0.5), 300, generator=seeded())
    paths = run.latents
    assert run.diagnostics["factorisation"] == "eigh"
    assert torch.isfinite(paths).all()
    x = paths[0].double()
    times = sampler.times(300)
    expected_cov = sampler.covariance(times)
    var = expected_cov.diagonal().clamp(min=0)
    centred = x - x.mean(dim=1, keepdim=True)
    cov = centred @ centred.T / (x.shape[1] - 1)
    se_cov = ((var[:, None] * var[None, :] + expected_cov**2) / x.shape[1]).sqrt()
    # 90,000 entries: 6 standard errors keeps a false alarm below ~1e-4.
    assert ((cov - expected_cov).abs() <= 6 * se_cov + 1e-6).all()


# --- the paper's sphere and line limits ------------------------------------------------------


def test_long_horizon_ou_paths_stay_on_the_sphere():
    n = 4096
    z0, z1 = endpoints((n,))
    paths = lb.registry.get("ou", T=20.0).sample(z0, z1, frames=48, n_paths=2, generator=seeded())
    radius = paths[:, 1:-1].norm(dim=-1) / math.sqrt(n)
    assert radius.min() > 0.95 and radius.max() < 1.05


def test_linear_midpoint_lies_inside_the_sphere():
    n = 4096
    z0, z1 = endpoints((n,))
    midpoint = lb.registry.get("linear").sample(z0, z1, frames=3)[0, 1]
    # |z0 + z1| / 2 ~ sqrt(n / 2): 0.71 sqrt(n), with relative spread 1 / sqrt(2n) ~ 1%.
    assert abs(midpoint.norm().item() / math.sqrt(n) - math.sqrt(0.5)) < 0.05


def test_short_horizon_ou_paths_are_the_line_up_to_small_noise():
    n, T, frames = 4096, 0.01, 21
    z0, z1 = endpoints((n,))
    sampler = lb.registry.get("ou", T=T)
    paths = sampler.sample(z0, z1, frames=frames, n_paths=2, generator=seeded())
    line = lb.registry.get("linear").sample(z0, z1, frames=frames)[0]
    t = sampler.times(frames)[1:-1]
    noise_scale = (2 * t * (T - t) / T).sqrt()  # per coordinate, the Brownian-bridge limit
    deviation = (paths[:, 1:-1] - line[1:-1]).norm(dim=-1) / math.sqrt(n) / noise_scale
    # The norm of n Gaussian coordinates has relative standard error 1 / sqrt(2n) = 1.1%;
    # 6 of them, plus the O(T) difference between sinh and the line.
    assert (deviation - 1).abs().max() < 6 / math.sqrt(2 * n) + T


# --- loops ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("T", [3.0, 6.0])
def test_periodic_walk_with_T_a_multiple_of_the_period_is_a_loop(T):
    sampler = lb.registry.get("gp", kernel="periodic", period=3.0, length_scale=1.0, T=T)
    assert sampler.is_loop
    z0 = endpoints((500,))[0]
    times = sampler.times(13)
    # Conditioned on z0 alone, the law at T is exactly the point z0: the walk closes itself.
    assert torch.allclose(sampler.mean(times, z0, z0)[-1], z0.double(), atol=1e-12)
    assert abs(sampler.covariance(times)[-1, -1]) < 1e-12
    paths = sampler.sample(z0, z0, frames=13, n_paths=2, generator=seeded())
    assert torch.isfinite(paths).all() and torch.equal(paths[:, -1], z0.expand(2, -1))


def test_periodic_loop_between_different_latents_is_refused():
    sampler = lb.registry.get("gp", kernel="periodic", period=2.0, T=2.0)
    z0, z1 = endpoints((8,))
    with pytest.raises(ValueError, match="z1 must equal z0"):
        sampler.sample(z0, z1, frames=10)


def test_random_walk_from_one_latent_returns_to_it():
    z0 = endpoints((16,))[0]
    paths = lb.registry.get("gp").sample(z0, z0, frames=10, n_paths=2, generator=seeded())
    assert torch.equal(paths[:, 0], paths[:, -1]) and not torch.equal(paths[:, 1], paths[:, 0])


# --- slerp -----------------------------------------------------------------------------------------


def test_slerp_keeps_the_norm_of_equal_norm_endpoints():
    z0, z1 = endpoints((256,))
    z1 = z1 * (z0.norm() / z1.norm())
    norms = lb.registry.get("slerp").sample(z0, z1, frames=17)[0].norm(dim=-1)
    assert torch.allclose(norms, torch.full_like(norms, z0.norm().item()), rtol=1e-5)


def test_slerp_of_equal_norm_latents_moves_at_constant_angular_speed():
    z0, z1 = endpoints((256,))
    z1 = z1 * (z0.norm() / z1.norm())
    path = lb.registry.get("slerp").sample(z0, z1, frames=9)[0].double()
    unit = path / path.norm(dim=-1, keepdim=True)
    steps = torch.acos((unit[1:] * unit[:-1]).sum(-1).clamp(-1, 1))
    assert torch.allclose(steps, steps.mean().expand_as(steps), atol=1e-5)


def test_slerp_of_parallel_latents_is_the_line():
    z0 = endpoints((64,))[0]
    z1 = 2.0 * z0
    slerp = lb.registry.get("slerp")
    run = slerp.run(z0, z1, frames=7)
    path = run.latents
    assert run.diagnostics["fallback"] == "linear"
    assert "straight line" in run.diagnostics["warnings"][0]
    assert torch.allclose(path, lb.registry.get("linear").sample(z0, z1, frames=7))


@pytest.mark.parametrize("offset", [0.0, 1e-9, 1e-4])
def test_slerp_of_near_antipodal_latents_is_finite(offset):
    z0 = endpoints((64,))[0]
    z1 = -z0 + offset * endpoints((64,), seed=3)[0]
    path = lb.registry.get("slerp").sample(z0, z1, frames=9)
    assert torch.isfinite(path).all()
    # Not exactly on the sphere: the formula divides the endpoints' norm mismatch by sin W,
    # and both are proportional to the offset, so the bulge stays a bounded fraction.
    assert path.norm(dim=-1).max() <= 1.5 * max(z0.norm(), z1.norm())


def test_linear_and_slerp_take_no_T_since_it_would_change_no_frame():
    for name in ("linear", "slerp"):
        assert lb.registry.available()[name]["params"] == []
        assert lb.registry.get(name).params() == {}
        with pytest.raises(ValueError, match=f"method '{name}' has no parameter 'T'"):
            lb.registry.get(name, T=7.0)
        assert torch.equal(lb.registry.get(name).times(5), torch.linspace(0, 1, 5, dtype=torch.float64))


def test_gp_refuses_a_kernel_parameter_its_kernel_does_not_use():
    with pytest.raises(ValueError, match="the exponential kernel does not use period"):
        lb.registry.get("gp", kernel="exponential", period=3.0)


def test_linear_is_the_straight_line():
    z0, z1 = endpoints((32,))
    path = lb.registry.get("linear").sample(z0, z1, frames=5, n_paths=2)
    u = torch.linspace(0, 1, 5)[:, None]
    assert torch.allclose(path, ((1 - u) * z0 + u * z1).expand(2, 5, 32), atol=1e-6)


# --- adjacent-frame correlation ----------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["exponential", "periodic", "matern", "locally-periodic"])
def test_gp_defaults_give_smooth_videos_at_48_frames(kernel):
    assert adjacent_correlation(lb.registry.get("gp", kernel=kernel), 48) >= 0.95


def test_adjacent_correlation_agrees_with_draws():
    sampler = lb.registry.get("ou", T=1.0)
    frames, draws = 12, 20_000
    x = sampler.sample(torch.zeros(draws), torch.zeros(draws), frames, generator=seeded())[0, 1:-1].double()
    pooled = (x[:-1] * x[1:]).sum() / ((x[:-1] ** 2).sum() * (x[1:] ** 2).sum()).sqrt()
    # Each sum averages 200,000 products: the pooled estimate's standard error is below 0.002.
    assert abs(pooled.item() - adjacent_correlation(sampler, frames)) < 0.01


def test_adjacent_correlation_of_deterministic_paths_is_one():
    assert adjacent_correlation(lb.registry.get("slerp"), 48) == 1.0


def test_frames_for_smooth_motion_is_the_first_count_reaching_the_threshold():
    ou = lb.registry.get("ou", T=0.5)
    enough = frames_for_smooth_motion(ou, 16)
    assert adjacent_correlation(ou, enough) >= SMOOTH_CORRELATION > adjacent_correlation(ou, enough - 1)
    assert frames_for_smooth_motion(ou, enough + 10) == enough + 10  # smooth already
    assert frames_for_smooth_motion(lb.registry.get("linear"), 4) == 4  # deterministic: any count
    assert frames_for_smooth_motion(ou, 16, most=enough - 1) is None  # not within the search's bound


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: lb.registry.get("ou", T=0), r"T must be in \[1e-06, inf\); got 0"),
        (lambda: lb.registry.get("gp", T=-1.0), r"T must be in \[1e-06, inf\); got -1.0"),
        (lambda: lb.registry.get("gp", alpha=2.5), r"alpha must be in \(0, 2\]; got 2.5"),
        (lambda: lb.registry.get("gp", beta=0), r"beta must be in \(0, inf\); got 0"),
        (lambda: lb.registry.get("gp", kernel="rbf"), "kernel must be one of exponential, periodic, matern, locally-periodic; got 'rbf'"),
        (lambda: lb.registry.get("gp", kernel="matern", nu=1.0), "nu must be one of 0.5, 1.5, 2.5; got 1.0"),
        (lambda: lb.registry.get("gp", kernel="periodic", period="x"), "period must be a number"),
        (lambda: lb.registry.get("gp", kernel=Exponential(), beta=2.0), "either as a Kernel object or as flat parameters"),
        (lambda: lb.registry.get("linear", alpha=1.0), "has no parameter 'alpha'"),
        (lambda: adjacent_correlation(lb.registry.get("ou"), 3), "frames must be a whole number >= 4"),
    ],
)
def test_invalid_sampler_parameters_raise_a_clear_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_numeric_choice_accepts_text_from_a_command_line():
    assert lb.registry.get("gp", kernel="matern", nu="1.5").kernel.nu == 1.5


# --- tiny T: the closed forms in complements 1 - k stay accurate ------------------------------


@pytest.mark.parametrize("T", [1e-6, 1e-4, 0.5, 5.0])
def test_ou_covariance_is_accurate_down_to_the_smallest_T(T):
    # The OU bridge's covariance, 2 sinh(min(s, t)) sinh(T - max(s, t)) / sinh(T), written
    # independently of the kernel code; at T = 1e-6 the variances are ~5e-7, far below the
    # rounding of k = e^-|h| itself, which is what the old k-form kept.
    sampler = lb.registry.get("ou", T=T)
    t = torch.linspace(0, T, 7, dtype=torch.float64)[1:-1]
    lo, hi = torch.minimum(t[:, None], t[None, :]), torch.maximum(t[:, None], t[None, :])
    exact = 2 * torch.sinh(lo) * torch.sinh(T - hi) / math.sinh(T)
    torch.testing.assert_close(sampler.covariance(t), exact, rtol=1e-9, atol=0)
    z0, z1 = torch.tensor([0.3], dtype=torch.float64), torch.tensor([-1.1], dtype=torch.float64)
    mean = (torch.sinh(T - t) * 0.3 + torch.sinh(t) * -1.1) / math.sinh(T)
    torch.testing.assert_close(sampler.mean(t, z0, z1)[:, 0], mean, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("T", [1e-6, 3e-5])
def test_smooth_gp_at_tiny_T_is_a_bridge_not_a_loop(T):
    # exp(-h^2) at T <= 3e-5 has 1 - k(T) below 1e-9: once called a loop, it is a well-posed
    # bridge whose mean is the straight line to within T^2.
    sampler = lb.registry.get("gp", kernel="exponential", alpha=2.0, beta=1.0, T=T)
    assert not sampler.is_loop and sampler.largest_mean_weight == pytest.approx(1.0)
    weights = sampler._weights(torch.tensor([T / 4, T / 2], dtype=torch.float64))
    torch.testing.assert_close(weights, torch.tensor([[0.75, 0.25], [0.5, 0.5]], dtype=torch.float64),
                               rtol=0, atol=1e-8)
    z0, z1 = torch.zeros(64), torch.ones(64)
    paths = sampler.sample(z0, z1, frames=9, n_paths=2, generator=seeded())
    assert torch.isfinite(paths).all()
    line = torch.linspace(0, 1, 9)[None, :, None].expand_as(paths)
    assert (paths - line).abs().max() < 1e-3
    assert torch.all(sampler.covariance(sampler.times(9)[1:-1]).diagonal() >= -1e-15)


def test_a_periodic_kernel_at_its_period_is_still_a_loop():
    for T in (4.0, 8.0):
        assert lb.registry.get("gp", kernel="periodic", period=4.0, T=T).is_loop
    with pytest.raises(ValueError, match="swings far outside both"):
        lb.registry.get("gp", kernel="periodic", period=4.0, T=4.0001).sample(torch.zeros(2), torch.ones(2), 5)


# --- bridges under the data's own Gaussian prior -------------------------------------------------

SIGMA = torch.tensor([[1.5, 0.6, -0.3], [0.6, 0.8, 0.1], [-0.3, 0.1, 0.5]], dtype=torch.float64)
MU = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)


@pytest.mark.parametrize("name, params", [("ou", {"T": 1.0}), ("gp", {"T": 2.0, "kernel": "matern", "nu": 1.5})])
def test_gaussian_prior_bridge_matches_the_conditioned_joint_gaussian(name, params):
    # Reference written here: the process is stationary N(MU, SIGMA) with cross-time covariance
    # k(t - s) SIGMA; condition the joint Gaussian of (Z(t), Z(0), Z(T)) on the endpoints with
    # numpy. 60,000 draws: the sample mean has standard error sqrt(var / N) and the sample
    # covariance entries sqrt((S_ii S_jj + S_ij^2) / N); 5 of them.
    sampler = lb.registry.get(name, prior=lb.priors.Gaussian(MU, SIGMA), **params)
    T, frames, draws = sampler.T, 5, 60_000
    z0, z1 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([2.0, -1.0, 0.0])
    paths = sampler.sample(z0, z1, frames, n_paths=draws, generator=seeded(7)).double()
    k = lambda h: sampler.kernel(torch.tensor(h, dtype=torch.float64)).item()  # noqa: E731
    S = SIGMA.numpy()
    for i, t in enumerate(np.linspace(0, T, frames)[1:-1], start=1):
        cross = np.hstack([k(t) * S, k(T - t) * S])                       # cov(Z(t), [Z(0), Z(T)])
        ends = np.block([[S, k(T) * S], [k(T) * S, S]])
        gain = cross @ np.linalg.inv(ends)
        centred = np.concatenate([z0.double().numpy(), z1.double().numpy()]) - np.tile(MU.numpy(), 2)
        mean = MU.numpy() + gain @ centred
        cov = S - gain @ cross.T
        x = paths[:, i].numpy()
        se_mean = np.sqrt(np.diag(cov) / draws)
        se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / draws)
        assert np.all(np.abs(x.mean(0) - mean) < 5 * se_mean), (t, x.mean(0), mean)
        assert np.all(np.abs(np.cov(x.T) - cov) < 5 * se_cov), (t, np.cov(x.T), cov)
    assert torch.equal(paths[:, 0], z0.double().expand(draws, -1)) and torch.equal(paths[:, -1], z1.double().expand(draws, -1))


def test_fitted_prior_is_resolved_from_the_models_data_by_the_pipeline():
    vae = lb.models.load_cached("poses")
    images = vae.example_images()[:2]
    sampler = lb.registry.get("ou", prior="fitted")
    with pytest.raises(ValueError, match="prior=lb.priors.for_model\\(vae, kind='gaussian'\\)"):
        sampler.sample(torch.zeros(64), torch.ones(64), 5)
    result = lb.interpolate(vae, *images, sampler, frames=8, n_paths=2)
    assert isinstance(result.params["prior"], lb.priors.Gaussian) and sampler.prior == "fitted"
    assert result.params["prior"] is lb.priors.for_model(vae, kind="gaussian")
    assert result.diagnostics["prior"] == "gaussian"


def test_keyframes_under_a_gaussian_prior_colour_the_standard_path():
    keys = torch.tensor([[0.0, 1.0, 2.0], [2.0, -1.0, 0.0], [1.0, 1.0, 1.0]])
    identity = lb.priors.Gaussian(torch.zeros(3), torch.eye(3))
    for name in ("ou", "gp"):
        plain = lb.registry.get(name).sample_through(keys, 6, n_paths=2, generator=seeded(3), loop=True)
        under = lb.registry.get(name, prior=identity).sample_through(keys, 6, n_paths=2, generator=seeded(3), loop=True)
        torch.testing.assert_close(under, plain, rtol=0, atol=1e-6)
        coloured = lb.registry.get(name, prior=lb.priors.Gaussian(MU, SIGMA)).sample_through(keys, 6, n_paths=2,
                                                                                             generator=seeded(3))
        assert torch.equal(coloured[:, ::5], keys.expand(2, -1, -1))  # every key exactly, at frames 0, 5, 10
