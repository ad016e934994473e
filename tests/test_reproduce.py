"""`python -m latent_bridge.reproduce --quick`: every figure written, the numbers sane.

One quick run (module fixture, about half a minute on 2 cores) feeds all tests. The bounds
below are the poster's claims with room for the quick run's few draws, not tuned to one seed.
"""

import json

import pytest

from latent_bridge import reproduce

# The files each figure writes (the figure list of docs/reproduction.md).
EXPECTED_FILES = {
    "sphere": ["sphere.png"],
    "ou": ["ou_moments.png"],
    "kernels": ["kernels.png"],
    "digits": ["digits_map.png", "digits_strips.png"],
    "walks": ["pose_walks.png", "pose_walks.gif"],
    "langevin": ["langevin_two_well.png"],
    "compare": ["compare_fashion.png", "compare_poses.png"],
    "keyframes": ["keyframes_loop.png", "keyframes_velocity.png"],
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    status = reproduce.main(["--out", str(out), "--quick"])
    return out, status, json.loads((out / "numbers.json").read_text())


def test_quick_run_succeeds_for_every_figure(quick_run):
    _, status, numbers = quick_run
    skipped = {name: entry["skipped"] for name, entry in numbers.items()
               if isinstance(entry, dict) and "skipped" in entry}
    assert skipped == {}
    assert status == 0


@pytest.mark.parametrize("figure", sorted(EXPECTED_FILES))
def test_quick_run_writes_the_figure_files(quick_run, figure):
    out, _, numbers = quick_run
    assert figure in numbers
    for name in EXPECTED_FILES[figure]:
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, name


def test_figure_list_matches_the_reproduce_module():
    assert set(EXPECTED_FILES) == set(reproduce.FIGURES)


def test_linear_midpoint_dips_to_seventy_percent_of_the_radius(quick_run):
    # |z0 + z1| / 2 / sqrt(n) for z0, z1 ~ N(0, I_4096) is 1/sqrt(2) = 0.707 with sd ~0.008.
    entry = quick_run[2]["sphere"]["n=4096"]["linear"]
    assert 0.67 < entry["midpoint"] < 0.75


def test_ou_bridge_with_large_T_stays_on_the_sphere(quick_run):
    entry = quick_run[2]["sphere"]["n=4096"]
    assert 0.93 < entry["ou T=20"]["interior_min"] and entry["ou T=20"]["interior_max"] < 1.07
    # ... and small T follows the line.
    assert abs(entry["ou T=0.01"]["midpoint_mean"] - entry["linear"]["midpoint"]) < 0.02


def test_ou_moments_match_the_closed_forms_within_standard_errors(quick_run):
    # Largest error over ~20 interior frames in units of its standard error: below 4.5 unless
    # the formula or the sampler is wrong (a 4.5-sigma excursion has probability ~1e-4 each).
    moments = quick_run[2]["ou"]
    for sampler in ("ou", "ou-sde"):
        assert "skipped" not in moments[sampler], moments[sampler]
        for entry in moments[sampler].values():
            assert entry["max_mean_error_in_se"] < 4.5
            assert entry["max_var_error_in_se"] < 4.5


def test_periodic_kernel_paths_close_into_loops(quick_run):
    entry = quick_run[2]["kernels"]["periodic"]
    assert entry["closes_exactly"] is True
    # No jump at the seam: the step across it is like any other step.
    assert entry["seam_step_over_mean_step"] < 2.0


def test_smoother_kernels_correlate_consecutive_frames_more(quick_run):
    entry = quick_run[2]["kernels"]
    corr = [entry[f"alpha={a}"]["adjacent_correlation"] for a in ("0.5", "1", "1.5", "2")]
    assert corr == sorted(corr)


def test_pose_walks_close_into_loops_and_the_gif_stays_small(quick_run):
    entry = quick_run[2]["walks"]
    assert entry["closes_exactly"] is True
    assert entry["gif_bytes"] < 2 * 2**20


def test_langevin_bridge_matches_the_fokker_planck_reference(quick_run):
    entry = quick_run[2]["langevin"]
    # The reference itself reproduces the OU bridge's Gaussian for a quadratic energy.
    assert entry["reference_check_ou_max_density_error"] < 1e-3
    masses = []
    for key, value in entry.items():
        if key.startswith("t="):
            # The quick run's 100 default paths of the 2-D two-well, both coordinates (independent
            # 1-D bridges): 200 independent draws. 4 binomial standard errors of that many, plus
            # 0.01 for the time steps; the full run's numbers, in docs/reproduction.md, are the
            # precise comparison.
            p = value["mass_below_0_reference"]
            se = (p * (1 - p) / value["equivalent_draws"]) ** 0.5
            assert abs(value["mass_below_0"] - p) < 4 * se + 0.01, (key, value)
            # Few paths between the wells (|x| < 0.5; reference ~0.06): the guide's bridge, which
            # ignores the wells, puts about 0.3 there (measured).
            assert abs(value["mass_between_wells"] - value["mass_between_wells_reference"]) < 0.08, key
            masses.append(value["mass_below_0"])
    # The paths leave the left well for the right one as time goes on.
    assert masses == sorted(masses, reverse=True)


def test_digits_map_linear_path_stays_closer_to_the_data_than_slerp(quick_run):
    entry = quick_run[2]["digits"]
    assert entry["linear"]["nearest_data_distance_mean"] < entry["slerp"]["nearest_data_distance_mean"]


def test_unknown_figure_name_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        reproduce.main(["--out", str(tmp_path), "--only", "nonsense"])


def test_keyframes_are_smooth_through_the_keys_jointly_and_kinked_chained(quick_run):
    entry = quick_run[2]["keyframes"]
    # RMS over 500 coordinates: relative error ~3 %; a kink is ~9x the jump elsewhere.
    for kernel in ("squared exponential", "Matern 5/2"):
        joint, chained = entry[kernel]["joint"], entry[kernel]["chained"]
        assert joint["at_keys"] < 1.2 * joint["elsewhere"]
        assert chained["at_keys"] > 5 * chained["elsewhere"]
    ou = entry["OU kernel"]  # Markov: the chain is the joint law, rough everywhere alike
    assert abs(ou["chained"]["at_keys"] / ou["joint"]["at_keys"] - 1) < 0.2
    loop = entry["loop"]
    assert loop["closes_exactly"] and loop["implied_keys"] == [4]
    assert loop["seam_velocity_jump"] < 1.5 * loop["velocity_jump_elsewhere"]
    periodic, pinned = entry["loop seam, periodic"], entry["loop seam, squared exponential"]
    assert periodic["seam"] < 1.2 * periodic["elsewhere"]  # closed by the period: smooth
    assert pinned["seam"] > 5 * pinned["elsewhere"] and pinned["at_keys"] < 1.2 * pinned["elsewhere"]
