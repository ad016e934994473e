"""Kernels: the formulas of eqs. (5)-(6) and the Matern family, k(0) = 1, positive
definiteness, products, immutability and parameter checks."""

import dataclasses
import math

import pytest
import torch

from latent_bridge.kernels import KERNELS, Exponential, Matern, Periodic, Product, kernel_from_params

LAGS = torch.tensor([-3.0, -0.7, 0.0, 0.25, 1.0, 2.5], dtype=torch.float64)
ALL_KERNELS = [
    Exponential(alpha=1.0, beta=1.0),
    Exponential(alpha=2.0, beta=0.3),
    Exponential(alpha=0.5, beta=2.0),
    Periodic(length_scale=0.8, period=3.0),
    Matern(nu=0.5, length_scale=2.0),
    Matern(nu=1.5, length_scale=0.7),
    Matern(nu=2.5, length_scale=1.3),
    Periodic(length_scale=1.0, period=2.0) * Exponential(alpha=2.0, beta=0.1),
]


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=repr)
def test_kernel_is_one_at_lag_zero_and_symmetric(kernel):
    assert kernel(torch.tensor(0.0)).item() == 1.0
    assert torch.equal(kernel(LAGS), kernel(-LAGS))


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=repr)
def test_kernel_gram_matrix_is_positive_semidefinite(kernel):
    t = torch.linspace(0.0, 6.0, 60, dtype=torch.float64)
    gram = kernel(t[:, None] - t[None, :])
    # Rounding in a 60 x 60 float64 eigensolve is ~1e-14; anything below -1e-10 is real.
    assert torch.linalg.eigvalsh(gram).min() > -1e-10


def test_kernel_returns_float64_of_the_lags_shape():
    value = Exponential()(torch.arange(6, dtype=torch.int64).reshape(2, 3))
    assert value.dtype == torch.float64 and value.shape == (2, 3)


def test_exponential_is_eq5():
    k = Exponential(alpha=1.5, beta=0.4)
    assert torch.allclose(k(LAGS), torch.exp(-0.4 * LAGS.abs() ** 1.5), rtol=1e-15, atol=0)


def test_periodic_is_eq6_with_absolute_lag():
    k = Periodic(length_scale=0.8, period=3.0)
    expected = torch.exp(-2.0 / 0.8**2 * torch.sin(math.pi * LAGS.abs() / 3.0) ** 2)
    assert torch.allclose(k(LAGS), expected, rtol=1e-15, atol=0)


def test_periodic_kernel_returns_to_one_at_every_period():
    k = Periodic(length_scale=0.5, period=2.5)
    assert torch.allclose(k(torch.tensor([2.5, 5.0, -7.5], dtype=torch.float64)), torch.ones(3, dtype=torch.float64))


def test_poster_periodic_kernel_with_squared_lag_is_not_positive_definite():
    # Why kernels.Periodic uses |h|: the printed sin^2(pi |h|^2 / p) has a clearly negative
    # eigenvalue on a plain time grid, so it is no covariance.
    t = torch.linspace(0.0, 4.0, 30, dtype=torch.float64)
    h = t[:, None] - t[None, :]
    poster = torch.exp(-2.0 * torch.sin(math.pi * h**2 / 3.0) ** 2)
    assert torch.linalg.eigvalsh(poster).min() < -1.0


@pytest.mark.parametrize(
    "nu, formula",
    [
        (0.5, lambda r: torch.exp(-r)),
        (1.5, lambda r: (1 + math.sqrt(3) * r) * torch.exp(-math.sqrt(3) * r)),
        (2.5, lambda r: (1 + math.sqrt(5) * r + 5 * r**2 / 3) * torch.exp(-math.sqrt(5) * r)),
    ],
)
def test_matern_matches_its_closed_form(nu, formula):
    assert torch.allclose(Matern(nu=nu, length_scale=1.7)(LAGS), formula(LAGS.abs() / 1.7), rtol=1e-14, atol=0)


@pytest.mark.parametrize("kernel", [Matern(nu=nu, length_scale=1e-300) for nu in (0.5, 1.5, 2.5)]
                         + [Periodic(length_scale=1e-300, period=3.0)], ids=repr)
def test_tiny_length_scales_give_white_noise_not_nan(kernel):
    # |h| / l overflows to inf here; the kernel must still be 1 at lag 0 and 0 elsewhere
    # (a multiple of the period is not exact in float64, so Periodic is 0 there too).
    expected = (LAGS == 0).double()
    assert torch.equal(kernel(LAGS), expected)


def test_product_kernel_multiplies_and_flattens_its_factors():
    a, b, c = Periodic(1.0, 2.0), Exponential(2.0, 0.1), Matern(1.5, 3.0)
    product = (a * b) * c
    assert product == Product((a, b, c))
    assert torch.allclose(product(LAGS), a(LAGS) * b(LAGS) * c(LAGS), rtol=1e-15, atol=0)


def test_kernels_are_immutable_and_compare_by_value():
    k = Exponential(alpha=1, beta=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        k.alpha = 1.5
    assert k == Exponential(alpha=1.0, beta=2.0) and hash(k) == hash(Exponential(1.0, 2.0))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Exponential(alpha=2.5), r"alpha must be in \(0, 2\]; got 2.5"),
        (lambda: Exponential(alpha=0.0), r"alpha must be in \(0, 2\]; got 0.0"),
        (lambda: Exponential(beta=0.0), r"beta must be in \(0, inf\); got 0.0"),
        (lambda: Exponential(beta=math.nan), r"beta must be a finite number in \(0, inf\); got nan"),
        (lambda: Exponential(beta="1"), r"beta must be a number in \(0, inf\); got '1'"),
        (lambda: Exponential(alpha=True), r"alpha must be a number in \(0, 2\]; got True"),
        (lambda: Periodic(length_scale=-1.0), r"length_scale must be in \(0, inf\); got -1.0"),
        (lambda: Periodic(period=0), r"period must be in \(0, inf\); got 0"),
        (lambda: Periodic(period=math.inf), r"period must be a finite number in \(0, inf\); got inf"),
        (lambda: Matern(nu=1.0), r"nu must be one of 0.5, 1.5, 2.5; got 1.0"),
        (lambda: Matern(length_scale=0.0), r"length_scale must be in \(0, inf\); got 0.0"),
        (lambda: Product(()), "factors must be a non-empty tuple of kernels"),
        (lambda: Product((Exponential(), 2.0)), "factors must be a non-empty tuple of kernels"),
        (lambda: kernel_from_params("rbf"), "kernel must be one of exponential, periodic, matern, locally-periodic; got 'rbf'"),
        (lambda: kernel_from_params("matern", sigma=1.0), "the matern kernel does not use sigma"),
        (lambda: kernel_from_params("exponential", alpha=3.0), r"alpha must be in \(0, 2\]; got 3.0"),
    ],
)
def test_invalid_kernel_parameters_raise_a_clear_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_kernel_from_params_builds_each_kernel_from_its_own_params():
    flat = dict(alpha=1.0, beta=0.5, length_scale=0.3, period=7.0, nu=1.5)

    def own(name):
        return {p.name: flat[p.name] for p in KERNELS[name].params}

    assert kernel_from_params("exponential", **own("exponential")) == Exponential(1.0, 0.5)
    assert kernel_from_params("periodic", **own("periodic")) == Periodic(0.3, 7.0)
    assert kernel_from_params("matern", **own("matern")) == Matern(1.5, 0.3)
    assert kernel_from_params("locally-periodic", **own("locally-periodic")) == \
        Periodic(0.3, 7.0) * Exponential(2.0, 0.5)
    # Numbers as a command line holds them are converted by the same Params.
    assert kernel_from_params("periodic", length_scale="0.3", period="7") == Periodic(0.3, 7.0)


@pytest.mark.parametrize("kernel, unused", [
    ("exponential", "period"), ("periodic", "alpha"), ("matern", "beta"), ("locally-periodic", "nu")])
def test_kernel_from_params_refuses_a_parameter_the_kernel_does_not_use(kernel, unused):
    with pytest.raises(ValueError, match=rf"the {kernel} kernel does not use {unused}; its parameters are"):
        kernel_from_params(kernel, **{unused: 1.5})


def test_same_named_kernel_params_agree_so_one_gp_control_serves_every_kernel():
    seen = {}
    for named in KERNELS.values():
        for param in named.params:
            first = seen.setdefault(param.name, param)
            assert (param.kind, param.default, param.low, param.high, param.choices) == \
                (first.kind, first.default, first.low, first.high, first.choices), param.name


def test_kernel_from_params_fills_missing_params_with_the_class_defaults():
    assert kernel_from_params("periodic") == Periodic()
    assert kernel_from_params("matern") == Matern()
