"""Plots: a panel per metric present, the sphere and data band, the latent map, PNGs written."""

import numpy as np
import pytest
from PIL import Image

import latent_bridge as lb
from latent_bridge import plots
from test_media import EXAMPLES, digits, synthetic  # noqa: F401


def test_metrics_plot_draws_a_panel_per_metric_present():
    # Step metrics (one value per pair of frames) are drawn at the middle of each step.
    results = {"a": synthetic(n_paths=2), "b": synthetic(n_paths=2, seed=5)}
    for result in results.values():
        result.metrics["step_length"] = np.random.default_rng(0).random((2, 9))
    fig = plots.metrics_plot(results)
    assert [ax.get_title() for ax in fig.axes] == ["latent step length", "log prior density"]
    steps = fig.axes[0].get_lines()[-1].get_xdata()
    assert steps.size == 9 and np.isclose(steps[0], 1 / 18)  # (0 + 1/9) / 2


@pytest.mark.parametrize("plot", ["norm_profile_plot", "log_prior_plot", "latent_map_plot", "metrics_plot"])
def test_plots_are_written_as_non_empty_pngs(tmp_path, plot):
    fig = getattr(plots, plot)(synthetic(n_paths=3))
    path = plots.save_figure(fig, tmp_path / f"{plot}.png")
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.size[0] > 400 and png.size[1] > 300
        assert np.asarray(png.convert("L")).std() > 10


def test_norm_profile_draws_the_sphere_and_the_data_band():
    fig = plots.norm_profile_plot({"linear": synthetic(seed=1), "ou": synthetic(seed=2)})
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "sphere |z| = √n" in labels and "encoded data, 5-95 %" in labels
    assert any(label.startswith("linear") for label in labels)
    without = plots.norm_profile_plot(synthetic(data=False))
    assert "encoded data, 5-95 %" not in without.axes[0].get_legend_handles_labels()[1]


def test_latent_map_can_show_the_decoded_manifold(digits):
    result = lb.interpolate(digits, EXAMPLES / "digits_0.png", EXAMPLES / "digits_2.png",
                            lb.registry.get("linear"), frames=5)
    fig = plots.latent_map_plot(result, manifold=True, tiles=6)
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (6 * 32, 6 * 32, 3)


def test_latent_map_refuses_a_64_dimensional_latent():
    with pytest.raises(ValueError, match="2-D latent space.*n = 64"):
        plots.latent_map_plot(synthetic(latent_shape=(4, 4, 4)))


def test_plots_refuse_results_of_different_lengths():
    with pytest.raises(ValueError, match="same number of frames"):
        plots.norm_profile_plot({"a": synthetic(frames=10), "b": synthetic(frames=12)})
