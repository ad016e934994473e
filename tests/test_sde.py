"""ou-sde: the OU bridge of eq. (4) integrated by Euler-Maruyama, against the closed form of
docs/methods.md ("Ornstein-Uhlenbeck bridge") and an independent torchsde integration; the
refined grid; bad input.

Coordinates are independent under the OU bridge, so one call with n coordinates and constant
endpoints gives n independent draws of each frame."""

import math

import pytest
import torch
import torchsde

import latent_bridge as lb
from latent_bridge.sde import guiding_term, refined_grid

N = 20_000


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The integrators make many small tensor operations; on a busy 2-core machine torch's
    intra-op threads only wait for each other (two-well run: 28 s with 2 threads, 0.5 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def ou_mean(t, T, z0, z1):
    return (z0 * math.sinh(T - t) + z1 * math.sinh(t)) / math.sinh(T)


def ou_variance(t, T):
    return (1 - math.exp(-2 * t)) * (1 - math.exp(-2 * (T - t))) / (1 - math.exp(-2 * T))


def ou_sde_draws(T, frames, steps=800, z0=0.5, z1=-1.0, seed=0):
    """float64 (frames, N): N independent paths as the N coordinates of one path."""
    sampler = lb.registry.get("ou-sde", T=T, steps=steps)
    paths = sampler.sample(torch.full((N,), z0), torch.full((N,), z1), frames=frames, generator=seeded(seed))
    return paths[0].double()


@pytest.mark.parametrize("shape", [(7,), (4, 8, 8)], ids=["vector", "sd-like"])
def test_sample_shape_dtype_and_exact_endpoints(shape):
    z0, z1 = torch.randn(shape, generator=seeded(1)), torch.randn(shape, generator=seeded(2))
    paths = lb.registry.get("ou-sde", T=2.0, steps=50).sample(z0, z1, frames=6, n_paths=3, generator=seeded())
    assert paths.shape == (3, 6, *shape) and paths.dtype == torch.float32
    assert torch.equal(paths[:, 0], z0.expand_as(paths[:, 0]))
    assert torch.equal(paths[:, -1], z1.expand_as(paths[:, -1]))
    assert torch.isfinite(paths).all()


def test_same_seed_gives_the_same_paths():
    sampler = lb.registry.get("ou-sde", T=1.0, steps=40)
    z0, z1 = torch.zeros(5), torch.ones(5)
    first = sampler.sample(z0, z1, frames=9, n_paths=2, generator=seeded(3))
    assert torch.equal(first, sampler.sample(z0, z1, frames=9, n_paths=2, generator=seeded(3)))
    assert not torch.equal(first, sampler.sample(z0, z1, frames=9, n_paths=2, generator=seeded(4)))


def test_refined_grid_holds_every_frame_and_shrinks_toward_T():
    T = 2.0
    times = torch.linspace(0, T, 7, dtype=torch.float64)
    grid, frame_index = refined_grid(times, T, steps=100)
    assert torch.equal(grid[frame_index], times)
    steps = torch.diff(grid)
    assert (steps > 0).all()
    assert 100 <= steps.numel() <= 100 + 6
    # s = T u (2 - u) with equal steps in u: the last step is about T / steps^2, the first 2 T / steps.
    assert steps[-1] < 2 * T / 100**2 and steps[0] == pytest.approx(2 * T / 100, rel=0.05)


def test_guiding_term_is_the_ou_transition_score():
    # r(t, x) = d/dx log N(z1; x e^-tau, 1 - e^-2tau), by finite differences.
    T, t, z1 = 1.5, 0.4, torch.tensor([0.7], dtype=torch.float64)
    x = torch.tensor([[-0.3]], dtype=torch.float64)
    tau = T - t

    def log_density(x):
        return -((z1 - x * math.exp(-tau)) ** 2) / (2 * (1 - math.exp(-2 * tau)))

    numeric = (log_density(x + 1e-6) - log_density(x - 1e-6)) / 2e-6
    torch.testing.assert_close(guiding_term(t, x, z1, T), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("T", [0.5, 1.0, 3.0])
def test_mean_and_variance_match_the_closed_form(T):
    draws = ou_sde_draws(T, frames=5)
    for i, t in enumerate(torch.linspace(0, T, 5).tolist()[1:-1], start=1):
        var = ou_variance(t, T)
        # N independent draws: standard errors sqrt(var / N) (mean) and var sqrt(2 / N)
        # (variance, Gaussian); 4 of them (the integration is exact for this linear SDE).
        assert abs(float(draws[i].mean()) - ou_mean(t, T, 0.5, -1.0)) < 4 * math.sqrt(var / N)
        assert abs(float(draws[i].var()) / var - 1) < 4 * math.sqrt(2 / N)


@pytest.mark.parametrize("T, steps", [(1.0, 10), (10.0, 200), (1.0, 200)])
def test_variance_is_right_at_the_default_steps_and_even_at_ten(T, steps):
    # The integrator solves the OU bridge's own linear dynamics exactly, so neither a coarse
    # grid nor a long T (where Euler-Maruyama at 200 steps overshot the variance by 6% at the
    # first frames) biases it. N = 40,000 draws: the sample variance has standard error
    # var sqrt(2 / N) = 0.7%; 4 of them, and every frame within 1% + noise.
    n = 40_000
    frames = 9
    draws = lb.registry.get("ou-sde", T=T, steps=steps).sample(
        torch.full((n,), 0.5), torch.full((n,), -1.0), frames=frames, generator=seeded(4))[0].double()
    for i, t in enumerate(torch.linspace(0, T, frames).tolist()[1:-1], start=1):
        var = ou_variance(t, T)
        assert abs(float(draws[i].var()) / var - 1) < 4 * math.sqrt(2 / n), (t, float(draws[i].var()), var)
        assert abs(float(draws[i].mean()) - ou_mean(t, T, 0.5, -1.0)) < 4 * math.sqrt(var / n)


def test_a_constant_extra_drift_moves_the_mean_by_the_exact_gain():
    # dX = [-X + 2 r + c] dt + sqrt(2) dW: the integrator holds c over each step, which is
    # exact for a constant, so the mean shift at each frame is c * integral_0^t sinh(T - t) /
    # sinh(T - s) ds, here computed by quadrature, independently of bridge_steps' closed form.
    from scipy.integrate import quad

    T, c, frames = 2.0, 0.7, 5
    times = torch.linspace(0, T, frames, dtype=torch.float64)
    grid, index = refined_grid(times, T, 40)
    n = 20_000
    z = torch.zeros(1, dtype=torch.float64)
    run = lb.sde.integrate(lambda t, x: (torch.full_like(x, c), None), z, z, grid, index, n,
                           lambda k: torch.randn((n, 1), generator=seeded(k), dtype=torch.float64), T)
    for j, t in enumerate(times[1:-1].tolist()):
        shift = c * quad(lambda s: math.sinh(T - t) / math.sinh(T - s), 0.0, t)[0]
        se = math.sqrt(ou_variance(t, T) / n)
        assert abs(float(run.frames[:, j, 0].double().mean()) - shift) < 4 * se, (t, shift)


class BridgeSDE(torch.nn.Module):
    """Eq. (4) for torchsde: dZ = [-Z + 2 e^-tau (z1 - Z e^-tau) / (1 - e^-2tau)] dt + sqrt(2) dW."""

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, T, z1):
        super().__init__()
        self.T, self.z1 = T, z1

    def f(self, t, y):
        tau = self.T - float(t)
        return -y + 2 * math.exp(-tau) * (self.z1 - y * math.exp(-tau)) / (1 - math.exp(-2 * tau))

    def g(self, t, y):
        return torch.full_like(y, math.sqrt(2.0))


@pytest.fixture(scope="module")
def torchsde_draws():
    """An independent integration of eq. (4): torchsde's Euler with dt = T / 2000, stopped
    before the singularity at T. float64 (3, N) at t = T/4, T/2, 3T/4, with T = 1."""
    torch.manual_seed(0)  # torchsde draws its Brownian motion from the global generator
    T = 1.0
    y0 = torch.full((N, 1), 0.5, dtype=torch.float64)
    ts = torch.tensor([0.0, 0.25, 0.5, 0.75], dtype=torch.float64)
    ys = torchsde.sdeint(BridgeSDE(T, -1.0), y0, ts, method="euler", dt=T / 2000)
    return ys[1:, :, 0]


def test_torchsde_integration_matches_the_closed_form(torchsde_draws):
    T = 1.0
    for row, t in zip(torchsde_draws, (0.25, 0.5, 0.75)):
        var = ou_variance(t, T)
        # Standard errors as in test_mean_and_variance_match_the_closed_form.
        assert abs(float(row.mean()) - ou_mean(t, T, 0.5, -1.0)) < 4 * math.sqrt(var / N)
        assert abs(float(row.var()) / var - 1) < 4 * math.sqrt(2 / N) + 0.005


def test_ou_sde_matches_the_torchsde_integration(torchsde_draws):
    ours = ou_sde_draws(1.0, frames=5, seed=1)[1:-1]
    for mine, theirs in zip(ours, torchsde_draws):
        # Two independent samples of N: the difference of means has standard error
        # sqrt(2 var / N), that of variances var sqrt(4 / N); 4 of them.
        var = float(theirs.var())
        assert abs(float(mine.mean() - theirs.mean())) < 4 * math.sqrt(2 * var / N)
        assert abs(float(mine.var()) / var - 1) < 4 * math.sqrt(4 / N) + 0.005


def test_ou_sde_agrees_with_the_exact_ou_sampler():
    T = 1.5
    ours = ou_sde_draws(T, frames=4, z0=1.0, z1=1.0)
    exact = lb.registry.get("ou", T=T).sample(torch.ones(N), torch.ones(N), frames=4, generator=seeded(5))[0].double()
    for mine, theirs in zip(ours[1:-1], exact[1:-1]):
        var = float(theirs.var())
        # As in test_ou_sde_matches_the_torchsde_integration.
        assert abs(float(mine.mean() - theirs.mean())) < 4 * math.sqrt(2 * var / N)
        assert abs(float(mine.var()) / var - 1) < 4 * math.sqrt(4 / N) + 0.005


@pytest.mark.parametrize("params, message", [
    ({"steps": 0}, "steps must be in [1, 100000]; got 0"),
    ({"steps": 100_001}, "steps must be in [1, 100000]; got 100001"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"T": 0.0}, "T must be in [1e-06, inf); got 0.0"),
    ({"T": float("nan")}, "T must be a finite number"),
    ({"substeps": 4}, "method 'ou-sde' has no parameter 'substeps'"),
])
def test_bad_parameters_raise_a_clear_error(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        lb.registry.get("ou-sde", **params)


def test_bad_sample_arguments_raise_a_clear_error():
    with pytest.raises(ValueError, match="frames must be a whole number >= 2"):
        lb.registry.get("ou-sde").sample(torch.zeros(3), torch.zeros(3), frames=1)
