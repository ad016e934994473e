"""The generated pose dataset: deterministic, and every image is one figure in a pose."""

import numpy as np
import pytest
from scipy import ndimage

from latent_bridge.data.poses import load_poses, random_angles, render_poses


@pytest.fixture(scope="module")
def figures():
    return render_poses(200, seed=3)


def test_rendering_is_deterministic_given_the_seed():
    assert np.array_equal(render_poses(8, seed=3), render_poses(8, seed=3))
    assert not np.array_equal(render_poses(8, seed=3), render_poses(8, seed=4))


def test_images_are_square_float32_in_unit_range(figures):
    assert figures.shape == (200, 64, 64) and figures.dtype == np.float32
    assert figures.min() >= 0 and figures.max() <= 1


def test_every_image_shows_a_figure_neither_blank_nor_a_blob(figures):
    ink = figures.mean(axis=(1, 2))
    # Head, torso and eight limb segments cover a few percent of the image.
    assert (ink > 0.04).all() and (ink < 0.25).all()


def test_every_figure_is_one_connected_body(figures):
    # Limbs join at shoulders, elbows, hips and knees: a detached limb would be a second piece.
    pieces = [ndimage.label(image > 0.5)[1] for image in figures]
    assert pieces == [1] * len(figures)


def test_limb_edges_are_anti_aliased(figures):
    edge = (figures > 0.05) & (figures < 0.95)
    assert edge.mean(axis=(1, 2)).min() > 0.005


def test_poses_differ_from_figure_to_figure(figures):
    flat = figures.reshape(len(figures), -1).astype(np.float64)
    squared = (flat ** 2).sum(1)
    distances = (squared[:, None] + squared[None] - 2 * flat @ flat.T) / flat.shape[1]
    np.fill_diagonal(distances, np.inf)
    # Even the two closest of 200 poses differ by a mean squared difference of 0.01 (a
    # shifted limb of ~40 pixels); identical renders would give 0.
    assert distances.min() > 0.01


def test_joint_angles_stay_within_their_limits():
    angles = random_angles(10_000, np.random.default_rng(0))
    assert angles["l_elbow"].min() >= 0 and angles["l_elbow"].max() <= 2.2  # elbows bend one way
    assert angles["r_knee"].min() >= 0 and angles["r_knee"].max() <= 1.8
    assert np.abs(angles["lean"]).max() <= 0.35


def test_train_and_test_splits_are_different_figures():
    train, test = load_poses("train", n=50), load_poses("test", n=50)
    assert train.shape == test.shape == (50, 1, 64, 64)
    assert not np.isclose(train[:, None].numpy(), test[None].numpy()).all(axis=(2, 3, 4)).any()
