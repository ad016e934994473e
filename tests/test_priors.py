"""Priors: energies, gradients against finite differences, normalisation, fitting to the shipped
models' encoded data, and bad input."""

import math

import numpy as np
import pytest
import torch

import latent_bridge as lb
from latent_bridge import priors
from latent_bridge.priors import DiagonalGaussian, GaussianMixture, StandardNormal


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def mixture(dim=3, components=4, seed=0):
    g = seeded(seed)
    weights = torch.rand(components, generator=g, dtype=torch.float64) + 0.2
    return GaussianMixture(weights / weights.sum(), 2 * torch.randn(components, dim, generator=g),
                           0.5 + torch.rand(components, dim, generator=g))


PRIORS = {
    "standard-normal": StandardNormal(),
    "diagonal": DiagonalGaussian(torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.7, 1.5, 0.3])),
    "mixture": mixture(),
}


@pytest.mark.parametrize("name", PRIORS)
def test_gradient_matches_finite_differences(name):
    prior = PRIORS[name]
    z = 1.5 * torch.randn(5, 3, generator=seeded(1), dtype=torch.float64)
    eps = 1e-6
    numeric = torch.stack([
        (prior.energy(z + eps * e) - prior.energy(z - eps * e)) / (2 * eps) for e in torch.eye(3, dtype=torch.float64)
    ], dim=1)
    # Central differences in float64: error O(eps^2 E''') + O(1e-16 / eps), both below 1e-7 here.
    torch.testing.assert_close(prior.grad_energy(z), numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", PRIORS)
def test_log_prob_is_normalised_and_matches_energy(name):
    prior = PRIORS[name]
    z = torch.randn(4, 3, generator=seeded(2), dtype=torch.float64)
    # log p = -E + const: the differences between points agree exactly.
    lp, energy = prior.log_prob(z), prior.energy(z)
    torch.testing.assert_close(lp - lp[0], -(energy - energy[0]))
    # Normalised: the 3-D integral of p, by importance sampling from a wide Gaussian, is 1.
    wide = 4.0
    draws = wide * torch.randn(200_000, 3, generator=seeded(3), dtype=torch.float64)
    proposal = -0.5 * (draws / wide).pow(2).sum(1) - 3 * math.log(wide * math.sqrt(2 * math.pi))
    ratio = (prior.log_prob(draws) - proposal).exp()
    # Importance-sampling estimate of the total mass: standard error = std(ratio) / sqrt(N).
    assert abs(float(ratio.mean()) - 1.0) < 4 * float(ratio.std()) / math.sqrt(draws.shape[0])


@pytest.mark.parametrize("name", PRIORS)
def test_float32_and_float64_agree_and_keep_dtype(name):
    prior = PRIORS[name]
    z = torch.randn(6, 3, generator=seeded(4), dtype=torch.float64)
    for method in ("energy", "grad_energy", "log_prob"):
        single, double = getattr(prior, method)(z.float()), getattr(prior, method)(z)
        assert single.dtype == torch.float32 and double.dtype == torch.float64
        torch.testing.assert_close(single.double(), double, rtol=1e-4, atol=1e-4)


def test_batched_latent_shapes_flatten_to_the_prior_dimension():
    prior = GaussianMixture.fit(torch.randn(200, 2, 2, 2, generator=seeded(5)), components=2)
    z = torch.randn(3, 2, 2, 2, generator=seeded(6))
    assert prior.dim == 8
    assert prior.grad_energy(z).shape == z.shape
    assert prior.log_prob(z).shape == (3,)
    torch.testing.assert_close(prior.log_prob(z), prior.log_prob(z.reshape(3, 8)))


def test_standard_normal_energy_is_half_squared_norm():
    z = torch.tensor([[3.0, 4.0]])
    assert float(StandardNormal().energy(z)) == 12.5
    assert float(StandardNormal().log_prob(z)) == pytest.approx(-12.5 - math.log(2 * math.pi))


def test_mixture_fit_recovers_well_separated_components():
    g = seeded(7)
    data = torch.cat([torch.randn(3000, 2, generator=g) * 0.5 - 3, torch.randn(1000, 2, generator=g) * 0.5 + 3])
    prior = GaussianMixture.fit(data, components=2)
    order = prior.means[:, 0].argsort()
    # 1000-3000 points per component: means within ~4 standard errors (0.5 / sqrt(1000) = 0.016).
    torch.testing.assert_close(prior.means[order], torch.tensor([[-3.0, -3.0], [3.0, 3.0]], dtype=torch.float64),
                               atol=0.07, rtol=0)
    torch.testing.assert_close(prior.weights[order], torch.tensor([0.75, 0.25], dtype=torch.float64),
                               atol=0.03, rtol=0)


def _held_out_split(latents):
    order = torch.randperm(latents.shape[0], generator=seeded(8))
    cut = int(0.8 * latents.shape[0])
    return latents[order[:cut]], latents[order[cut:]]


@pytest.mark.parametrize("model", ["digits", "fashion", "poses"])
def test_fitted_priors_beat_the_standard_normal_on_held_out_latents(model):
    train, test = _held_out_split(lb.models.load_cached(model).training_latents())
    baseline = float(StandardNormal().log_prob(test).mean())
    for fitted in (DiagonalGaussian.fit(train), GaussianMixture.fit(train, components=8)):
        assert float(fitted.log_prob(test).mean()) > baseline, fitted


def test_for_model_fits_from_the_models_encoded_data_and_caches_per_model():
    vae = lb.models.load_cached("digits")
    mixture_prior = priors.for_model(vae, kind="mixture", components=3)
    assert isinstance(mixture_prior, GaussianMixture) and mixture_prior.weights.numel() == 3
    assert priors.for_model(vae, kind="mixture", components=3) is mixture_prior
    assert isinstance(priors.for_model(vae, kind="diagonal"), DiagonalGaussian)
    # The same fit as from the latents themselves (EM with a fixed seed).
    direct = priors.fit(vae.training_latents(), "mixture", components=3)
    assert torch.equal(direct.means, mixture_prior.means)


class _NoData:
    name = "sd-vae"

    def training_latents(self):
        return None


@pytest.mark.parametrize("call, message", [
    (lambda: priors.for_model("digits"), "for_model needs a VAE"),
    (lambda: priors.for_model(_NoData()), "model 'sd-vae' ships no encoded training data.*standard-normal"),
    (lambda: priors.for_model(_NoData(), kind="flow"), "kind must be one of diagonal, mixture"),
    (lambda: priors.for_model(_NoData(), components=0), "components must be a whole number >= 1"),
    (lambda: priors.fit(torch.randn(5, 2), kind="flow"), "kind must be one of diagonal, mixture"),
    (lambda: GaussianMixture([0.5, 0.4], [[0.0], [1.0]], [[1.0], [1.0]]), "weights must be > 0 and sum to 1"),
    (lambda: GaussianMixture([0.5, 0.5], [[0.0], [1.0]], [[1.0], [0.0]]), "scales must be finite and > 0"),
    (lambda: GaussianMixture([1.0], [[0.0, 1.0]], [[1.0]]), "means and scales (K, n) with the same K"),
    (lambda: GaussianMixture.fit(torch.randn(5, 2), components=6), "components must be <= the number of latents"),
    (lambda: DiagonalGaussian([0.0, 1.0], [1.0]), "mean and std must have the same number of values"),
    (lambda: DiagonalGaussian([0.0], [-1.0]), "std must be finite and > 0"),
    (lambda: DiagonalGaussian.fit(torch.randn(1, 3)), "N >= 2"),
    (lambda: DiagonalGaussian([0.0, 1.0], [1.0, 1.0]).energy(torch.zeros(2, 3)), "this prior is 2-dimensional"),
    (lambda: StandardNormal().energy(torch.zeros(3)), "batch dimension first"),
    (lambda: StandardNormal().energy(torch.zeros(2, 3, dtype=torch.long)), "floating-point"),
])
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_full_gaussian_matches_scipy_and_its_fit_recovers_the_moments():
    from scipy.stats import multivariate_normal

    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    cov = torch.tensor([[1.5, 0.6, -0.3], [0.6, 0.8, 0.1], [-0.3, 0.1, 0.5]], dtype=torch.float64)
    prior = priors.Gaussian(mean, cov)
    z = torch.randn(6, 3, generator=seeded(3), dtype=torch.float64)
    expected = multivariate_normal(mean.numpy(), cov.numpy()).logpdf(z.numpy())
    np.testing.assert_allclose(prior.log_prob(z).numpy(), expected, rtol=1e-10)
    torch.testing.assert_close(prior.grad_energy(z), (z - mean) @ torch.linalg.inv(cov))
    data = mean + torch.randn(200_000, 3, generator=seeded(4), dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    fitted = priors.Gaussian.fit(data)
    torch.testing.assert_close(fitted.covariance, cov, atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="covariance must be symmetric positive definite"):
        priors.Gaussian(mean, -cov)
