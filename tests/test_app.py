"""The app through its public API: app.py served on a free local port, driven by gradio_client.

One server per module (starting Gradio costs seconds); requests are small (8 frames) so the
whole file runs in well under a minute on two CPU cores.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import imageio.v2 as imageio  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

import latent_bridge as lb  # noqa: E402
from latent_bridge.app import controls, costs, handlers, limits  # noqa: E402
from latent_bridge.app import models as app_models  # noqa: E402
from latent_bridge.langevin import RHAT_LIMIT  # noqa: E402

MODEL = "poses"
FRAMES = 8
SMALL = dict(t=0.5, frames=FRAMES, paths=2, seed=0, fps=8)  # t: the API name of T


@pytest.fixture(scope="module")
def app_module():
    import app

    return app


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server[1], verbose=False, analytics_enabled=False)


@pytest.fixture(scope="module")
def examples():
    """Two of the default model's own example images (what the page's examples use)."""
    paths = lb.models.load_cached(MODEL).example_images()
    assert len(paths) >= 2, f"{MODEL} ships fewer than two example images"
    return [handle_file(str(p)) for p in paths[:2]]


def read_video(path):
    """(frame count, (width, height), codec) of an mp4 read back with imageio's ffmpeg."""
    reader = imageio.get_reader(path, "ffmpeg")
    try:
        meta = reader.get_meta_data()
        return reader.count_frames(), tuple(meta["size"]), meta.get("codec")
    finally:
        reader.close()


def is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_api_lists_exactly_the_four_tab_endpoints(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert sorted(api["named_endpoints"]) == ["/compare", "/interpolate", "/keyframes", "/random_walk"]
    assert api["unnamed_endpoints"] == {}


def test_interpolate_returns_video_gif_grid_and_plot(client, examples):
    video, (gif, frames_zip), grid, profile, _, summary, diagnostics = client.predict(
        model=MODEL, image_a=examples[0], image_b=examples[1], method="ou", **SMALL,
        api_name="/interpolate")
    count, size, codec = read_video(video)
    assert count == FRAMES
    assert codec == "h264"
    # Two paths side by side, each enlarged to the video's minimum height, with one gap between.
    side = lb.media.MIN_VIDEO_HEIGHT
    assert lb.models.load_cached(MODEL).image_size <= side
    assert size == (2 * side + lb.media.GAP, side)
    assert Image.open(gif).n_frames == FRAMES
    assert frames_zip.endswith(".zip")
    assert is_png(grid)
    assert profile is not None and profile.get("plot")
    assert isinstance(diagnostics, dict)
    # The model's own examples: a summary in words and no notice.
    assert "2 path(s) of" in summary and "does not look like" not in summary and "do not look like" not in summary


def test_random_walk_loops_back_to_its_first_frame(client, examples):
    video, files, grid, profile, _, _ = client.predict(
        model=MODEL, image=examples[0], method="gp", kernel="periodic", **{**SMALL, "t": 4.0},
        period=4.0, api_name="/random_walk")
    count, _, codec = read_video(video)
    assert count == FRAMES and codec == "h264"
    assert is_png(grid)
    assert profile.get("plot")
    first, last = (imageio.get_reader(video, "ffmpeg").get_data(i) for i in (0, FRAMES - 1))
    # A loop: the last frame decodes the same latent as the first (up to video compression).
    assert abs(first.astype(int) - last.astype(int)).mean() < 3


def test_langevin_on_a_fitted_mixture_is_refused_saying_why_and_what_to_use(client, examples):
    # The default algorithm (auto) runs path-smc for a mixture prior, whose populations cost
    # about 200 times this server's work limit on poses: refused before any work, naming why,
    # the exact bridge (ou with the fitted prior) and path-mcmc with what its paths are.
    with pytest.raises(AppError, match=r"langevin with a mixture prior runs path-smc \(algorithm auto.* about \d+ times "
                                       r"this server's limit .* use ou with the fitted prior .* set algorithm path-mcmc "
                                       r"\(within the limit, but its chains keep the route"):
        client.predict(model=MODEL, image_a=examples[0], image_b=examples[1], method="langevin", prior="mixture",
                       **{**SMALL, "t": 1.0}, api_name="/interpolate")


def test_algorithm_auto_shows_only_the_controls_both_path_algorithms_share():
    # auto picks by the prior, so the page shows what both take; naming one shows its own.
    shown = {algorithm: set(controls.shown_params(["langevin"], {"algorithm": algorithm}))
             for algorithm in ("auto", "path-mcmc", "path-smc")}
    own = {"path-mcmc": {"sweeps", "chains", "rungs"}, "path-smc": {"population", "islands", "moves", "temperatures"}}
    assert {"window", "move", "blocks", "prior", "steps"} <= shown["auto"]
    assert not shown["auto"] & (own["path-mcmc"] | own["path-smc"]), shown["auto"]
    for algorithm, names in own.items():
        assert names <= shown[algorithm] and {"window", "move", "blocks"} <= shown[algorithm]


def test_langevin_chains_on_a_fitted_mixture_say_they_disagree_and_offer_the_exact_bridge(client, examples):
    # poses' fitted mixture is where the chains (path-mcmc) do not agree (docs/methods.md,
    # "Measured"): the paths' log-density R-hat on these two examples at T = 1 was above the
    # sqrt(2) that warns on 15 of 16 seeds (1.35-4.3, median 2.1), so of two runs one must warn.
    # A visitor and an API client both read the warning and the exact alternative.
    warned = []
    for seed in (0, 1):
        *_, summary, diagnostics = client.predict(
            model=MODEL, image_a=examples[0], image_b=examples[1], method="langevin", prior="mixture",
            algorithm="path-mcmc", **{**SMALL, "t": 1.0, "seed": seed}, api_name="/interpolate")
        says = [w for w in diagnostics.get("warnings", []) if "chains disagree on the paths' log-density" in w]
        assert bool(says) == (diagnostics["rhat_density"] > RHAT_LIMIT), diagnostics
        warned += [(w, summary) for w in says]
    assert warned
    for warning, summary in warned:
        assert "ou with the fitted prior" in warning and f"⚠️ langevin: {warning}" in summary


def test_a_tempered_langevin_run_through_the_api_reports_its_ladder(client, examples):
    # rungs reaches the sampler through the API like any other parameter, and its exchange
    # rates come back in the run's diagnostics (2 rungs: one neighbouring pair). The work bound
    # counts the rungs: at the default 100 sweeps these two are refused (7.8e8 > 5e8), at 40 not.
    with pytest.raises(AppError, match=r"chains x rungs x sweeps .* = 7.8e\+08, above .* lower sweeps, steps, blocks, "
                                       r"rungs or paths"):
        client.predict(model=MODEL, image_a=examples[0], image_b=examples[1], method="langevin", prior="mixture",
                       algorithm="path-mcmc", rungs=2, **{**SMALL, "t": 1.0}, api_name="/interpolate")
    *_, diagnostics = client.predict(
        model=MODEL, image_a=examples[0], image_b=examples[1], method="langevin", prior="mixture", rungs=2,
        algorithm="path-mcmc", sweeps=40, **{**SMALL, "t": 1.0}, api_name="/interpolate")
    assert diagnostics["rungs"] == 2 and len(diagnostics["swap_acceptance"]) == 1, diagnostics
    assert 0.0 <= diagnostics["swap_acceptance"][0] <= 1.0


def test_a_path_smc_run_through_the_api_reports_its_tempering(client, examples):
    # path-smc and its population, islands, moves and temperatures reach the sampler through the
    # API; the work bound counts them at their most (temperatures x moves sweeps of the islands'
    # populations): at the defaults poses is refused, naming them (even a population of 2 would
    # be too much), with one island and fewer moves and temperatures the largest population that
    # fits is named, and small populations run.
    with pytest.raises(AppError, match=r"islands x population x temperatures x moves .* above .* lower islands, moves, "
                                       r"temperatures, steps or blocks \(at these, even a population of 2 is too much\)"):
        client.predict(model=MODEL, image_a=examples[0], image_b=examples[1], method="langevin", prior="mixture",
                       algorithm="path-smc", **{**SMALL, "t": 1.0}, api_name="/interpolate")
    with pytest.raises(AppError, match=r"lower population \(at most [2-9] here\), islands, moves, temperatures, steps, "
                                       r"blocks or paths"):
        client.predict(model=MODEL, image_a=examples[0], image_b=examples[1], method="langevin", prior="mixture",
                       algorithm="path-smc", islands=1, moves=5, temperatures=16, **{**SMALL, "t": 1.0},
                       api_name="/interpolate")
    *_, diagnostics = client.predict(
        model=MODEL, image_a=examples[0], image_b=examples[1], method="langevin", prior="mixture",
        algorithm="path-smc", population=4, islands=2, moves=2, temperatures=8, **{**SMALL, "t": 1.0},
        api_name="/interpolate")
    assert diagnostics["algorithm"] == "path-smc" and diagnostics["population"] == 4, diagnostics
    assert diagnostics["islands"] == 2 and 1 <= diagnostics["fewest_ancestors"] <= 4, diagnostics
    assert diagnostics["fewest_ancestors"] <= diagnostics["ancestors"] <= 8, diagnostics
    assert 1 <= diagnostics["temperatures"] <= 8 and diagnostics["moves"] == 2, diagnostics


def test_compare_returns_one_labelled_video_and_a_profile_per_method(client, examples):
    methods = ["linear", "ou"]
    video, grid, profile, path_metrics, _, diagnostics = client.predict(
        model=MODEL, image_a=examples[0], image_b=examples[1], methods=methods, **SMALL,
        api_name="/compare")
    assert path_metrics.get("plot")
    count, _, codec = read_video(video)
    assert count == FRAMES and codec == "h264"
    assert is_png(grid)
    assert profile.get("plot")
    assert sorted(diagnostics) == sorted(methods)


def test_corrupt_upload_gives_our_message_and_the_server_keeps_serving(client, examples, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a picture")
    with pytest.raises(AppError, match="not a valid image file"):
        client.predict(model=MODEL, image_a=handle_file(str(broken)), image_b=examples[1], method="ou",
                       **SMALL, api_name="/interpolate")
    video, *_ = client.predict(model=MODEL, image_a=examples[0], image_b=examples[1], method="linear",
                               **SMALL, api_name="/interpolate")
    assert read_video(video)[0] == FRAMES


def test_absurd_frames_are_refused_with_the_limit(client, examples):
    with pytest.raises(AppError, match=r"frames must be at most 240"):
        client.predict(model=MODEL, image=examples[0], method="ou", **{**SMALL, "frames": 1_000_000},
                       api_name="/random_walk")


def test_invalid_method_parameter_names_the_parameter(client, examples):
    with pytest.raises(AppError, match=r"alpha must be in \(0, 2\]"):
        client.predict(model=MODEL, image_a=examples[0], image_b=examples[1], method="gp",
                       kernel="exponential", alpha=3.0, **SMALL, api_name="/interpolate")


def test_compare_without_methods_asks_for_one(client, examples):
    with pytest.raises(AppError, match="tick at least one method"):
        client.predict(model=MODEL, image_a=examples[0], image_b=examples[1], methods=[], **SMALL,
                       api_name="/compare")


def test_unlisted_model_is_refused(client, examples):
    with pytest.raises(AppError, match="model must be one of"):
        client.predict(model="some-model", image=examples[0], method="ou", **SMALL, api_name="/random_walk")


def test_a_repo_id_offline_is_refused_with_one_message(client, examples):
    # Typed repo ids are checked on the Hub's file list first; offline (HF_HUB_OFFLINE=1) that cannot be.
    with pytest.raises(AppError, match="cannot check 'some-org/some-repo'.*HF_HUB_OFFLINE"):
        client.predict(model="some-org/some-repo", image=examples[0], method="ou", **SMALL,
                       api_name="/random_walk")


def test_default_settings_give_smooth_videos_for_every_method():
    # The line under the controls: each tab's starting values reach the 0.95 target.
    for method in lb.registry.available():
        for overrides in ({}, controls.WALK_OVERRIDES.get(method, {}), controls.COMPARE_OVERRIDES):
            values = controls.start_values([method], overrides)
            sampler = lb.registry.get(method, **controls.method_kwargs(method, values))
            if not hasattr(sampler, "covariance") and sampler.stochastic:
                continue  # no closed form to measure (reported as such on the page)
            correlation = lb.bridges.adjacent_correlation(sampler, limits.DEFAULTS.frames)
            assert correlation >= limits.SMOOTH_CORRELATION, (method, overrides, correlation)


def test_smoothness_line_judges_only_what_it_could_measure():
    assert controls.smoothness_line(["ou-sde"], {"T": 0.5}, 64).endswith(": smooth motion.")
    langevin = controls.smoothness_line(["langevin"], {}, 64)
    assert "langevin: measured after a run" in langevin and "smooth motion" not in langevin
    rough = controls.smoothness_line(["langevin", "ou"], {"T": 5.0}, 8)
    assert "ou **0.4" in rough and "flickers" in rough  # about e^{-T/(frames-1)} = 0.49, pinned ends lower
    assert "alpha must be in (0, 2]" in controls.smoothness_line(["gp"], {"alpha": 9}, 64)


def test_decode_time_is_measured_once_per_model_and_bounds_the_request():
    support = costs
    vae = lb.models.load_cached(MODEL)
    seconds = support.decode_seconds_per_frame(vae)
    assert 0 < seconds < 1 and support.decode_seconds_per_frame(vae) == seconds  # remembered
    support.check_decode_time(limits.LIMITS.frames * limits.LIMITS.paths, seconds, MODEL)  # fits
    most = int(limits.LIMITS.decode_seconds // 2.0)
    support.check_decode_time(most, 2.0)
    with pytest.raises(ValueError, match=f"decode at most {most} frames in all"):
        support.check_decode_time(most + 1, 2.0)


def test_interpolate_on_a_2d_model_also_draws_the_latent_map(client, app_module):
    digits = [handle_file(str(p)) for p in lb.models.load_cached("digits").example_images()[:2]]
    *_, latent_map, _, _ = client.predict(model="digits", image_a=digits[0], image_b=digits[1], method="ou",
                                       **SMALL, api_name="/interpolate")
    assert latent_map is not None and latent_map.get("plot")
    # A model whose latent is not 2-D has none (the poses request above returned None there).
    assert not app_models.has_latent_map(lb.models.load_cached("poses"))


# --- Keyframes ----------------------------------------------------------------------------------

KEYS = dict(t=2.0, frames_per_segment=6, paths=2, seed=0, fps=8, loop=True, hold=1, easing="smooth", seconds=0)


def gallery(paths):
    """The images as the gallery sends them."""
    return [{"image": handle_file(str(p)), "caption": None} for p in paths]


@pytest.fixture(scope="module")
def four():
    return lb.models.load_cached(MODEL).example_images()[:4]


def test_keyframes_returns_video_gif_grid_profile_and_the_frames_as_pngs(client, four):
    import zipfile

    video, (gif, frames_zip), grid, profile, _, diagnostics = client.predict(
        model=MODEL, images=gallery(four), method="gp", **KEYS, api_name="/keyframes")
    # 4 segments of 6 frames (5 steps each), the first frame, one more at each of the 4 images.
    frames = 4 * 5 + 1 + 4
    assert diagnostics["frames"] == frames and diagnostics["key_frames"] == [0, 6, 12, 18, 24]
    count, _, codec = read_video(video)
    assert count == frames and codec == "h264"
    with Image.open(gif) as loop:  # Pillow merges repeated frames (the holds) into longer ones
        shown, gif_frames = 0, loop.n_frames
        for index in range(gif_frames):
            loop.seek(index)
            shown += loop.info["duration"]
    # A loop's last frame (the first image) is dropped; GIF delays are whole hundredths of a second.
    assert abs(shown - (frames - 1) * 1000 / KEYS["fps"]) <= 10 * gif_frames
    assert is_png(grid) and profile.get("plot")
    with zipfile.ZipFile(frames_zip) as archive:
        assert len(archive.namelist()) == 2 * frames and "path2/00024.png" in archive.namelist()
    first, last = (imageio.get_reader(video, "ffmpeg").get_data(i) for i in (0, frames - 1))
    assert abs(first.astype(int) - last.astype(int)).mean() < 3  # closed: back on the first image


def test_keyframes_length_in_seconds_sets_the_frames_per_segment(client, four):
    *_, diagnostics = client.predict(model=MODEL, images=gallery(four[:3]), method="ou",
                                     **{**KEYS, "seconds": 2.0, "hold": 0, "loop": False}, api_name="/keyframes")
    # 2 s at 8 fps = 16 frames ~ 2 (f - 1) + 1: f = 9 (rounded to the nearest), 17 frames.
    assert diagnostics["frames_per_segment"] == 9 and diagnostics["frames"] == 17


@pytest.mark.parametrize("images, overrides, message", [
    (1, {}, r"upload or pick 2 to 8 images, in order; got 1"),
    (9, {}, r"upload or pick 2 to 8 images, in order; got 9"),
    (4, {"frames_per_segment": 64}, r"this path has 4 segments of 64 frames .* 257 frames in all, above this "
                                    r"server's limit of 240 per path: lower frames per segment \(at most 59 here\)"),
    (4, {"hold": 10**6}, r"hold must be at most 240 on this server"),
    (4, {"seconds": 60.0}, r"length must be a number of seconds in \(0, 30\] at 8 fps"),
    (4, {"easing": "bounce"}, r"easing must be one of linear, smooth"),
    (4, {"loop": "yes"}, r"loop must be true or false"),
])
def test_keyframe_requests_are_bounded_before_any_work(client, four, images, overrides, message):
    paths = (four * 3)[:images]
    with pytest.raises(AppError, match=message):
        client.predict(model=MODEL, images=gallery(paths), method="gp", **{**KEYS, **overrides},
                       api_name="/keyframes")


def test_keyframe_particle_work_counts_every_segment(client, four):
    # 600 steps x 6 sweeps x 2 paths (one particle system a path) x (rounds up to 256 particles,
    # 2 x 256 counted, x 64 numbers + 25,000 a step) = 4.2e8 per segment, within the limit of 5e8
    # on its own; the 4 segments of a loop make 1.7e9: above it.
    with pytest.raises(AppError, match=r"= 600 x 6 x 2 x 4 segments x \(512 x 64 \+ 25000\) = 1.7e\+09, above "
                       r"this server's limit"):
        client.predict(model=MODEL, images=gallery(four), method="langevin", algorithm="smc", particles=256,
                       max_particles=256,
                       steps=600, pcn_moves=5, **KEYS, api_name="/keyframes")


def test_renders_of_different_tabs_take_turns(app_server, examples, monkeypatch):
    """One render at a time in all: the tabs' events share one queue slot (each event function
    would otherwise have its own, and four tabs could render at once)."""
    import threading
    import time

    app, url = app_server
    spans, lock = [], threading.Lock()

    def slow_render(job, progress=None):
        start = time.monotonic()
        time.sleep(1.0)
        with lock:
            spans.append((start, time.monotonic()))
        raise ValueError("rendered")

    monkeypatch.setattr(handlers, "render", slow_render)
    def pair():
        return [dict(file) for file in examples[:2]]

    # Three visitors (one may queue two renders): as on a Space, each named by the proxy's header.
    monkeypatch.setenv("SPACE_ID", "latent-bridge/tests")
    clients = [Client(url, verbose=False, analytics_enabled=False, headers={"X-Forwarded-For": f"10.0.0.{i}"})
               for i in range(3)]
    a, b = pair()
    jobs = [clients[0].submit(model=MODEL, image_a=a, image_b=b, method="ou", **SMALL, api_name="/interpolate")]
    jobs.append(clients[1].submit(model=MODEL, image=pair()[0], method="gp", **SMALL, api_name="/random_walk"))
    a, b = pair()
    jobs.append(clients[2].submit(model=MODEL, image_a=a, image_b=b, methods=["linear", "ou"], **SMALL,
                                  api_name="/compare"))
    for job in jobs:
        with pytest.raises(AppError, match="rendered"):
            job.result(timeout=60)
    spans.sort()
    assert len(spans) == 3
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans
