"""Pipeline through the real digits model: shapes, exact endpoints, streaming, progress, errors."""

import numpy as np
import pytest
import torch
from PIL import Image

import latent_bridge as lb
from latent_bridge import pipeline


@pytest.fixture(scope="module")
def vae():
    return lb.models.load_cached("digits")


@pytest.fixture(scope="module")
def images(vae):
    return vae.example_images()[:2]


def encode(vae, path):
    image = lb.data.load_image(path, size=vae.image_size, channels=vae.channels)
    return vae.encode(image[None])[0]


def quantised_decode(vae, latents):
    """Independent uint8 rendering: round(255 x), gray repeated to RGB."""
    images = vae.decode(latents).clamp(0, 1).numpy()
    return np.repeat(np.round(images * 255).astype(np.uint8), 3, axis=1).transpose(0, 2, 3, 1)


def test_interpolate_shapes(vae, images):
    result = lb.interpolate(vae, *images, lb.registry.get("ou"), frames=9, n_paths=3)
    assert result.frames.shape == (3, 9, 32, 32, 3) and result.frames.dtype == np.uint8
    assert result.latents.shape == (3, 9, 2) and result.latents.dtype == torch.float32
    assert result.times.shape == (9,) and result.times.dtype == np.float64
    assert result.metrics["norm_ratio"].shape == (3, 9)
    assert result.metrics["ssim"].shape == (3, 8)
    assert result.metrics["nearest_data_distance"].shape == (3, 9)
    assert result.method == "ou" and result.model == "digits"


def test_endpoint_latents_are_exactly_the_encoded_images(vae, images):
    result = lb.interpolate(vae, *images, lb.registry.get("ou"), frames=6, n_paths=2)
    for k in range(2):
        assert torch.equal(result.latents[k, 0], encode(vae, images[0]))
        assert torch.equal(result.latents[k, -1], encode(vae, images[1]))


def test_endpoint_frames_are_the_quantised_decoded_encodings(vae, images):
    result = lb.interpolate(vae, *images, lb.registry.get("ou"), frames=6, n_paths=2)
    for k in range(2):
        for frame, path in ((0, images[0]), (-1, images[1])):
            expected = quantised_decode(vae, encode(vae, path)[None])[0]
            np.testing.assert_array_equal(result.frames[k, frame], expected)


def test_interior_frames_are_the_decoded_latents(vae, images):
    result = lb.interpolate(vae, *images, lb.registry.get("ou"), frames=7, n_paths=2)
    for k in range(2):
        expected = quantised_decode(vae, result.latents[k])
        # Batch size may change the last float bit of a convolution: allow one grey level.
        assert np.abs(result.frames[k].astype(int) - expected).max() <= 1


def test_same_seed_same_paths_other_seed_other_paths(vae, images):
    ou = lb.registry.get("ou")
    first = lb.interpolate(vae, *images, ou, frames=8, seed=3).latents
    assert torch.equal(first, lb.interpolate(vae, *images, ou, frames=8, seed=3).latents)
    assert not torch.equal(first, lb.interpolate(vae, *images, ou, frames=8, seed=4).latents)


def test_images_accepted_as_path_pil_numpy_and_tensor(vae, images):
    tensor = lb.data.load_image(images[0], size=vae.image_size, channels=vae.channels)
    pil = Image.open(images[0])
    ou = lb.registry.get("ou")
    reference = lb.interpolate(vae, images[0], images[1], ou, frames=3).latents[0, 0]
    for source in (pil, np.asarray(pil), tensor, tensor[None]):
        assert torch.equal(lb.interpolate(vae, source, images[1], ou, frames=3).latents[0, 0], reference)


def test_random_walk_closes_on_the_image_latent(vae, images):
    result = lb.random_walk(vae, images[0], frames=12, n_paths=2)
    z = encode(vae, images[0])
    assert result.method == "gp" and result.params["T"] == result.params["kernel"].period
    assert torch.equal(result.latents[:, 0], z.expand(2, -1))
    assert torch.equal(result.latents[:, -1], z.expand(2, -1))
    np.testing.assert_array_equal(result.frames[:, 0], result.frames[:, -1])
    assert (result.latents[:, 1:-1] != z).any()


def test_compare_shares_endpoints_and_seed(vae, images):
    samplers = {"ou": lb.registry.get("ou"), "gp": lb.registry.get("gp")}
    results = lb.compare(vae, *images, samplers, frames=8, n_paths=2, seed=5)
    assert list(results) == ["ou", "gp"]
    for name, sampler in samplers.items():
        alone = lb.interpolate(vae, *images, sampler, frames=8, n_paths=2, seed=5)
        assert torch.equal(results[name].latents, alone.latents)
        np.testing.assert_array_equal(results[name].frames, alone.frames)
    np.testing.assert_array_equal(results["ou"].frames[:, [0, -1]], results["gp"].frames[:, [0, -1]])


def test_streamed_frames_equal_in_memory_frames(vae, images):
    ou = lb.registry.get("ou")
    kept = lb.interpolate(vae, *images, ou, frames=23, n_paths=3, seed=1)
    streamed = lb.interpolate(vae, *images, ou, frames=23, n_paths=3, seed=1, keep_frames=False)
    assert streamed.frames is None and "ssim" not in streamed.metrics
    chunks = list(streamed.iter_frames(chunk=5))
    assert [c.shape[1] for c in chunks] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), kept.frames)
    np.testing.assert_array_equal(np.concatenate(list(kept.iter_frames(chunk=4)), axis=1), kept.frames)


def test_decode_frames_chunks_in_order(vae):
    latents = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    chunks = list(pipeline.decode_frames(vae, latents, chunk_size=3))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert np.abs(np.concatenate(chunks).astype(int) - quantised_decode(vae, latents)).max() <= 1


class CountingVAE:
    """The digits VAE, recording the batch size of every decode call."""

    def __init__(self, vae):
        self.vae, self.batches = vae, []

    def __getattr__(self, name):
        return getattr(self.vae, name)

    def decode(self, latents, fast=False):
        self.batches.append(len(latents))
        return self.vae.decode(latents, fast=fast)


def test_chunk_size_sets_the_decoder_batch_and_endpoints_decode_once(vae, images):
    counting = CountingVAE(vae)
    result = lb.interpolate(counting, *images, lb.registry.get("ou"), frames=12, n_paths=2, chunk_size=6)
    # Each endpoint once, alone; then 10 interior frames x 2 paths in batches of 3 whole frames.
    assert counting.batches == [1, 1, 6, 6, 6, 2]
    default = lb.interpolate(vae, *images, lb.registry.get("ou"), frames=12, n_paths=2)
    assert np.abs(result.frames.astype(int) - default.frames).max() <= 1


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_a_deterministic_method_s_paths_are_decoded_once(vae, images, method):
    """Its paths are one curve: the decoder sees the interior once (in the same batches), the
    frames are repeated, and the progress still counts every path's frames to the total."""
    counting, calls = CountingVAE(vae), []
    result = lb.compare(counting, *images, {method: lb.registry.get(method), "ou": lb.registry.get("ou")},
                        frames=12, n_paths=3, chunk_size=6, progress=lambda *call: calls.append(call[:2]))[method]
    # Endpoints alone; then the deterministic method: 10 frames, 6 a call; then ou: 2 frames x 3 paths a call.
    assert counting.batches == [1, 1, 6, 4] + [6] * 5
    assert result.frames.shape[0] == 3 and (result.frames == result.frames[:1]).all()
    assert np.abs(result.frames[0].astype(int) - quantised_decode(vae, result.latents[0])).max() <= 1
    assert calls[-1] == (2 + 2 * 10 * 3, 2 + 2 * 10 * 3) and [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert lb.pipeline.decoded_paths(lb.registry.get(method), 3) == 1
    assert lb.pipeline.decoded_paths(lb.registry.get("ou"), 3) == 3


def test_chunk_size_scales_with_image_area(vae):
    small = pipeline.chunk_size_for(vae)
    assert small > 1
    big = type("Big", (), {"image_size": 4 * vae.image_size, "dtype": torch.float32})()
    assert pipeline.chunk_size_for(big) == max(1, small // 16)
    huge = type("Huge", (), {"image_size": 4096, "dtype": torch.float32})()
    assert pipeline.chunk_size_for(huge) == 1


def test_progress_increases_up_to_total(vae, images, monkeypatch):
    monkeypatch.setattr(pipeline, "chunk_size_for", lambda vae, budget=None: 4)
    calls = []
    lb.interpolate(vae, *images, lb.registry.get("ou"), frames=12, n_paths=2,
                   progress=lambda done, total, message: calls.append((done, total)))
    done = [d for d, _ in calls]
    assert len(calls) > 2 and done == sorted(set(done))
    assert {t for _, t in calls} == {2 + 10 * 2} and done[-1] == 22


def test_a_samplers_progress_reaches_the_pipelines_callback(vae, images):
    calls = []
    sampler = lb.registry.get("langevin", algorithm="smc", particles=8, max_particles=8, steps=100, pcn_moves=1)
    lb.interpolate(vae, *images, sampler, frames=6, progress=lambda *call: calls.append(call))
    sampling = [c for c in calls if c[2].startswith("langevin: ")]
    assert len(sampling) >= 100 and sampling[-1][0] == sampling[-1][1]
    assert {c[2] for c in sampling} == {"langevin: sequential Monte Carlo, 8 particles", "langevin: pCN sweep 1"}
    assert calls.index(sampling[-1]) < len(calls) - 1 and calls[-1][2] == "decoding"


def test_diagnostics_are_json_and_hold_metric_summaries(vae, images):
    import json

    result = lb.interpolate(vae, *images, lb.registry.get("gp"), frames=10)
    json.dumps(result.diagnostics)
    assert result.diagnostics["ssim_min"] == pytest.approx(result.metrics["ssim"].min())
    assert result.diagnostics["norm_ratio_mean"] == pytest.approx(result.metrics["norm_ratio"].mean())


def test_ssim_of_gray_frames_equals_that_of_their_rgb_copies(vae, images):
    result = lb.interpolate(vae, *images, lb.registry.get("ou"), frames=6, n_paths=2)
    np.testing.assert_allclose(result.metrics["ssim"], lb.metrics.ssim_adjacent(result.frames), rtol=1e-12)


def test_langevin_named_prior_is_fitted_to_the_model(vae, images):
    sampler = lb.registry.get("langevin", prior="mixture", components=3, steps=20, sweeps=4,
                              algorithm="path-mcmc")
    result = lb.interpolate(vae, *images, sampler, frames=6, n_paths=2)
    prior = lb.priors.for_model(vae, kind="mixture", components=3)
    assert result.params["prior"] is prior  # fitted once per model, and used by the sampler
    expected = prior.log_prob(result.latents.reshape(12, 2).double()).reshape(2, 6).numpy()
    np.testing.assert_allclose(result.metrics["log_prior"], expected, rtol=1e-5)
    assert sampler.prior == "mixture" and result.params["prior"] is not None and "acceptance" in result.diagnostics


@pytest.mark.parametrize("kwargs, message", [
    ({"frames": 1}, "frames must be a whole number >= 2"),
    ({"n_paths": 0}, "n_paths must be a whole number >= 1"),
    ({"seed": -1}, "seed must be"),
    ({"chunk_size": 0}, "chunk_size must be a whole number >= 1"),
])
def test_bad_sizes_raise_value_error(vae, images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        lb.interpolate(vae, *images, lb.registry.get("ou"), **kwargs)


def test_wrong_image_shape_raises_value_error(vae, images):
    with pytest.raises(ValueError, match="image_b: images must have shape"):
        lb.interpolate(vae, images[0], torch.zeros(3, 64, 64), lb.registry.get("ou"))


def test_non_sampler_raises_value_error(vae, images):
    with pytest.raises(ValueError, match="sampler must be a latent_bridge sampler"):
        lb.interpolate(vae, *images, "ou")


def test_compare_without_samplers_raises_value_error(vae, images):
    with pytest.raises(ValueError, match="samplers must be a non-empty dict"):
        lb.compare(vae, *images, {})
