"""Path metrics against values worked out by hand."""

import math

import numpy as np
import pytest
import torch

from latent_bridge import metrics


def test_norm_ratio_is_norm_over_sqrt_dimension():
    latents = torch.tensor([[[3.0, 4.0], [0.0, 0.0]], [[1.0, 1.0], [-6.0, 8.0]]])
    expected = np.array([[5 / math.sqrt(2), 0.0], [1.0, 10 / math.sqrt(2)]])
    np.testing.assert_allclose(metrics.norm_ratio(latents), expected, rtol=1e-12)


def test_norm_ratio_flattens_image_shaped_latents():
    latents = torch.full((1, 2, 4, 3, 3), 2.0)  # |z| = 2 sqrt(36) over sqrt(36)
    np.testing.assert_allclose(metrics.norm_ratio(latents), [[2.0, 2.0]])


def test_log_prior_is_standard_normal_density_by_default():
    latents = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])
    expected = [[-2.5 - math.log(2 * math.pi), -math.log(2 * math.pi)]]
    np.testing.assert_allclose(metrics.log_prior(latents), expected, rtol=1e-12)


def test_log_prior_uses_given_prior_per_frame_in_path_order():
    class SumPrior:
        def log_prob(self, z):
            return z.reshape(z.shape[0], -1).sum(1)

    latents = torch.arange(12.0).reshape(2, 3, 2)
    np.testing.assert_allclose(metrics.log_prior(latents, SumPrior()), [[1, 5, 9], [13, 17, 21]])


def test_step_length_is_distance_between_consecutive_frames():
    latents = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]]])
    np.testing.assert_allclose(metrics.step_length(latents), [[5.0, 0.0]])


def test_ssim_of_identical_frames_is_one():
    frames = np.random.default_rng(0).integers(0, 256, (1, 2, 16, 16, 3), dtype=np.uint8)
    frames[0, 1] = frames[0, 0]
    np.testing.assert_allclose(metrics.ssim_adjacent(frames), [[1.0]])


def test_ssim_of_flat_frames_matches_luminance_term():
    # Flat images have zero variance, so SSIM reduces to (2ab + C1) / (a^2 + b^2 + C1).
    frames = np.empty((1, 2, 8, 8, 3), dtype=np.uint8)
    frames[0, 0], frames[0, 1] = 100, 120
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    np.testing.assert_allclose(metrics.ssim_adjacent(frames), [[expected]], rtol=1e-9)


def test_ssim_works_on_images_smaller_than_the_default_window():
    frames = np.random.default_rng(1).integers(0, 256, (2, 3, 4, 4, 3), dtype=np.uint8)
    values = metrics.ssim_adjacent(frames)
    assert values.shape == (2, 2) and np.all(values <= 1)


@pytest.mark.parametrize("shape", [(2, 4, 40, 33, 3), (1, 3, 6, 9, 1)])
def test_ssim_equals_scikit_image_structural_similarity(shape):
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    # Smooth ramps plus noise, so the variance and covariance terms both matter.
    ramp = np.linspace(0, 200, shape[2] * shape[3]).reshape(shape[2], shape[3], 1)
    frames = np.clip(ramp + rng.normal(0, 25, shape), 0, 255).astype(np.uint8)
    window = 7 if min(shape[2:4]) >= 7 else 5
    expected = [[structural_similarity(path[i], path[i + 1], channel_axis=-1, data_range=255,
                                       win_size=window) for i in range(shape[1] - 1)] for path in frames]
    # Same formula, summed in another order: equal to float64 rounding.
    np.testing.assert_allclose(metrics.ssim_adjacent(frames), expected, rtol=1e-12, atol=1e-12)


def test_ssim_refuses_float_frames():
    with pytest.raises(ValueError, match="uint8"):
        metrics.ssim_adjacent(np.zeros((1, 2, 8, 8, 3)))


def test_nearest_data_distance_by_hand():
    data = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    latents = torch.tensor([[[1.0, 0.0], [9.0, 1.0]]])
    np.testing.assert_allclose(metrics.nearest_data_distance(latents, data), [[1.0, math.sqrt(2)]])


def test_nearest_data_distance_in_chunks_equals_brute_force(monkeypatch):
    rng = np.random.default_rng(2)
    data, latents = rng.normal(size=(300, 5)), rng.normal(size=(3, 7, 5))
    monkeypatch.setattr(metrics, "_DISTANCE_CHUNK_BYTES", 4 * 300 * 4)  # 4 frames per chunk
    brute = np.linalg.norm(latents[:, :, None, :] - data[None, None], axis=-1).min(-1)
    np.testing.assert_allclose(metrics.nearest_data_distance(latents, data), brute, rtol=1e-12)


def test_nearest_data_distance_is_exact_for_a_point_next_to_a_large_code():
    # |a|^2 + |b|^2 - 2ab would lose this 1e-6 distance entirely at |a| = 1e4.
    data = torch.tensor([[1e4, 0.0], [0.0, 0.0]], dtype=torch.float64)
    latents = torch.tensor([[[1e4, 1e-6]]], dtype=torch.float64)
    np.testing.assert_allclose(metrics.nearest_data_distance(latents, data), [[1e-6]], rtol=1e-9)


def test_nearest_data_distance_refuses_mismatched_dimension():
    with pytest.raises(ValueError, match="data_latents"):
        metrics.nearest_data_distance(torch.zeros(1, 2, 2), torch.zeros(5, 3))


def test_path_metrics_includes_ssim_and_data_distance_only_when_given():
    latents = torch.zeros(2, 4, 2)
    assert set(metrics.path_metrics(latents)) == {"norm_ratio", "log_prior", "step_length"}
    full = metrics.path_metrics(latents, np.zeros((2, 4, 8, 8, 3), np.uint8), torch.ones(3, 2))
    assert full["ssim"].shape == (2, 3) and full["nearest_data_distance"].shape == (2, 4)


def test_summarize_gives_mean_min_max_floats():
    summary = metrics.summarize({"step_length": np.array([[1.0, 3.0], [2.0, 6.0]])})
    assert summary == {"step_length_mean": 3.0, "step_length_min": 1.0, "step_length_max": 6.0}


def test_rounded_keeps_four_significant_digits_through_nested_diagnostics():
    diagnostics = {"ess": 63.98765, "per_method": {"ou": [0.123456789, 2]}, "decoder": "full", "n": 3}
    assert metrics.rounded(diagnostics) == {"ess": 63.99, "per_method": {"ou": [0.1235, 2]},
                                            "decoder": "full", "n": 3}


def test_velocity_jump_is_zero_on_a_line_and_the_kink_at_a_corner():
    from latent_bridge.metrics import velocity_jump

    times = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    # One path along a line at constant speed, one that turns at t = 1 from (1, 0) to (0, 1) per unit time.
    line = np.stack([times, 2 * times], axis=1)
    corner = np.stack([np.minimum(times, 1.0), np.maximum(times - 1.0, 0.0)], axis=1)
    jumps = velocity_jump(np.stack([line, corner]), times)
    assert jumps.shape == (2, 3)
    np.testing.assert_allclose(jumps[0], 0.0, atol=1e-12)
    # At t = 1 the velocity goes from (1, 0) to (0, 1): a jump of norm sqrt(2), over sqrt(n = 2).
    np.testing.assert_allclose(jumps[1], [0.0, 1.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="times must be strictly increasing"):
        velocity_jump(np.stack([line]), np.array([0.0, 0.5, 0.5, 1.5, 2.0]))
