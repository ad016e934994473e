"""Hub repo ids typed into the app: checked on a stand-in for the Hub's file list, loaded from a
real cache layout offline, through the app's public API (gradio_client) as a visitor would.

A typed value is only ever a repo id: paths, URLs, long strings and local folders are refused,
and a folder that exists here is never loaded from a visitor's text.
"""

import os

import huggingface_hub.constants
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

from latent_bridge.app import hub_repos as support  # noqa: E402
from latent_bridge.app import handlers, limits, ui  # noqa: E402
from latent_bridge.app import models as app_models  # noqa: E402

from tiny_hub import StandInHub, put_in_cache, saved_files, small_vae_files, tiny_kl, tiny_small_vae  # noqa: E402

SMALL = dict(method="linear", t=0.5, frames=4, paths=1, seed=0, fps=8, resolution=256, fast_preview=False)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A cache holding a latent-bridge VAE and a diffusers one, and a stand-in Hub listing them
    (and a pickle-only repo and a huge one that must never be fetched)."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    scratch = tmp_path_factory.mktemp("saved")
    repos = {"org/tiny-lb": small_vae_files(tiny_small_vae(), scratch / "lb"),
             "org/tiny-map": small_vae_files(tiny_small_vae(latent_dim=2), scratch / "map"),
             "org/tiny-kl": saved_files(tiny_kl(), scratch / "kl")}
    for repo_id, files in repos.items():
        put_in_cache(cache, repo_id, files)
    listing = {repo_id: {name: len(data) for name, data in files.items()} for repo_id, files in repos.items()}
    listing["org/pickles"] = {"config.json": 100, "diffusion_pytorch_model.bin": 1000}
    listing["org/huge"] = {"config.json": 100, "diffusion_pytorch_model.safetensors": 5 * 10**9}
    stand_in = StandInHub(listing)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
        patch.setattr(support, "HUB_API", stand_in)
        patch.setattr(support, "_CHECKED", {})
        yield cache, stand_in


@pytest.fixture(scope="module")
def client(hub, app_server):
    return Client(app_server[1], verbose=False, analytics_enabled=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i, shade in enumerate((40, 200)):
        Image.new("RGB", (32, 32), (shade, shade, shade)).save(folder / f"{i}.png")
        paths.append(handle_file(str(folder / f"{i}.png")))
    return paths


def interpolate(client, model, images):
    return client.predict(model=model, image_a=images[0], image_b=images[1], **SMALL, api_name="/interpolate")


def test_a_typed_latent_bridge_repo_runs_after_the_checks(client, hub, images):
    video, _, grid, _, _, _, diagnostics = interpolate(client, "org/tiny-lb", images)
    assert os.path.getsize(video) > 0 and Image.open(grid).size[0] >= 16
    assert ("org/tiny-lb", None, True) in hub[1].calls  # the file list, with sizes, was asked for


def test_a_typed_repo_with_a_2d_latent_gets_its_latent_map(client, images, app_server):
    app = app_server[0]
    assert handlers.show_latent_map("org/tiny-map")["visible"] is False  # unknown until loaded
    *_, latent_map, _, _ = interpolate(client, "org/tiny-map", images)
    assert latent_map is not None
    assert handlers.show_latent_map("org/tiny-map")["visible"] is True
    assert handlers.show_latent_map("org/tiny-lb")["visible"] is False  # 3-D: no map


def test_a_typed_diffusers_repo_runs_at_the_chosen_resolution(client, images):
    _, _, grid, _, _, _, _ = interpolate(client, "org/tiny-kl", images)
    assert Image.open(grid).size[1] >= 256


@pytest.mark.parametrize("value, message", [
    ("../../etc/passwd", "repo id"),
    ("/etc", "repo id"),
    ("https://huggingface.co/org/tiny-lb", "not a URL"),
    ("org/../tiny-lb", "repo id"),
    ("org/" + "x" * 5000, "at most 200 characters"),
    ("x" * 5000, "model must be one of digits.* or a Hub repo id"),
    ("org/pickles", "only in pickle files"),
    ("org/huge", "5,000 MB, above this limit of 1,000 MB"),
    ("org/unknown", "no public model 'org/unknown'"),
], ids=["traversal", "absolute-path", "url", "dot-dot", "long-repo-id", "long-text", "pickles", "huge", "unknown"])
def test_hostile_or_unfit_repo_ids_are_refused_and_the_app_keeps_serving(client, images, value, message):
    with pytest.raises(AppError, match=message):
        interpolate(client, value, images)
    assert os.path.getsize(interpolate(client, "poses", images)[0]) > 0


def test_a_local_folder_is_never_loaded_from_a_visitors_text(client, images, tmp_path, monkeypatch):
    # A valid checkpoint at the relative path "me/local", and its absolute path: both refused.
    small_vae_files(tiny_small_vae(), tmp_path / "me" / "local")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AppError, match="no public model 'me/local'"):
        interpolate(client, "me/local", images)
    with pytest.raises(AppError, match="repo id"):
        interpolate(client, str(tmp_path / "me" / "local"), images)


def test_an_unreachable_hub_gives_one_message(client, images, monkeypatch):
    monkeypatch.setattr(support, "HUB_API", StandInHub(error=ConnectionError("no route")))
    with pytest.raises(AppError, match="'org/elsewhere': the Hugging Face Hub could not be reached"):
        interpolate(client, "org/elsewhere", images)


def test_the_variable_turns_the_field_off(client, images, monkeypatch, app_server):
    monkeypatch.setattr(app_models, "ANY_REPO", False)
    with pytest.raises(AppError, match="model must be one of digits"):
        interpolate(client, "org/tiny-lb", images)
    assert not support.allow_any_repo({support.ALLOW_ANY_REPO_VARIABLE: "0"})
    assert support.allow_any_repo({}) and support.allow_any_repo({support.ALLOW_ANY_REPO_VARIABLE: "1"})


def test_loading_a_repo_makes_it_the_choice_and_the_controls_follow_its_kind(hub, app_server):
    app = app_server[0]
    update, status = ui.fetch_repo(" org/tiny-kl ", progress=lambda *a, **k: None)
    assert update["value"] == "org/tiny-kl" and ("org/tiny-kl (Hub repo)", "org/tiny-kl") in update["choices"]
    assert "diffusers AutoencoderKL" in status
    assert app_models.is_photo_model("org/tiny-kl")  # resolution and fast preview show
    ui.fetch_repo("org/tiny-lb", progress=lambda *a, **k: None)
    assert not app_models.is_photo_model("org/tiny-lb")  # our VAEs have one size


def test_typed_repos_are_trimmed_from_the_cache_least_recently_used_first(tmp_path):
    cache = tmp_path / "hub"
    for i, repo in enumerate(["org/old", "org/newer", "org/listed"]):
        snapshot = put_in_cache(cache, repo, {"model.safetensors": bytes(1000)})
        os.utime(snapshot / "model.safetensors", (1000 + i, 1000 + i), follow_symlinks=True)
    put_in_cache(cache, "someone/else", {"model.safetensors": bytes(5000)})  # the operator's own: never touched
    left = support.trim_typed_repos(1500, {"org/old", "org/newer", "org/listed"}, keep={"org/listed"},
                                    cache_dir=cache)
    assert left == 1000
    assert sorted(p.name for p in cache.iterdir()) == [
        "models--org--listed", "models--org--newer", "models--someone--else"]


def test_only_repos_the_app_downloaded_count_as_its_own(tmp_path):
    import latent_bridge as lb
    from tiny_hub import COMMIT

    cache = tmp_path / "hub"
    put_in_cache(cache, "org/had", {"config.json": b"{}"})
    remote = lb.models.RemoteModel("org/had", COMMIT, "diffusers", None, (), 0)
    assert support.cached_before(remote, cache_dir=cache)
    assert not support.cached_before(lb.models.RemoteModel("org/new", COMMIT, "diffusers", None, (), 0),
                                      cache_dir=cache)


# --- a trained folder the operator lists -------------------------------------------------------

def test_the_operator_lists_trained_folders_by_name(tmp_path):
    for name in ("cats", "dogs"):
        small_vae_files(tiny_small_vae(), tmp_path / name)
    environ = {app_models.MODEL_FOLDERS_VARIABLE: os.pathsep.join([str(tmp_path / "cats"), f" {tmp_path / 'dogs'} "])}
    found = app_models.model_folders(environ)
    assert list(found) == ["cats", "dogs"] and found["cats"] == (tmp_path / "cats", "a tiny test VAE")
    with pytest.raises(ValueError, match="two models would be called 'cats'"):
        app_models.model_folders(environ, taken=["cats"])
    with pytest.raises(ValueError, match="not a checkpoint folder"):
        app_models.model_folders({app_models.MODEL_FOLDERS_VARIABLE: str(tmp_path)})
    assert app_models.model_folders({}) == {}


def test_a_listed_folder_runs_through_the_api_by_its_name(client, images, tmp_path, monkeypatch, app_server):
    app = app_server[0]
    small_vae_files(tiny_small_vae(), tmp_path / "cats")
    monkeypatch.setitem(app_models.LOCAL_FOLDERS, "cats", tmp_path / "cats")
    monkeypatch.setitem(app_models.MODELS, "cats", ("a tiny test VAE", "embedded"))
    video, _, grid, _, _, _, _ = interpolate(client, "cats", images)
    assert os.path.getsize(video) > 0 and Image.open(grid).size[0] >= 16
    # The folder's name is the only way in: its path is not a model name.
    with pytest.raises(AppError, match="repo id"):
        interpolate(client, str(tmp_path / "cats"), images)


# What SD's KL decoder and TAESD take per 256 px frame on 2 CPU cores, as measured by
# benchmarks/bench_models.py (docs/hub_models.md): (full decoder, fast preview) in seconds, on
# an AMD EPYC with native bfloat16 (auto: bfloat16) and on one without (auto: float32).
CPU_DECODE_SECONDS = {"native-bfloat16": (1.79, 0.106), "float32-only": (5.89, 0.280)}


@pytest.fixture
def sd_on_a_cpu_server(tmp_path, monkeypatch, app_server):
    """sd-vae and taesd as tiny models in an offline cache, served by the app as on a CPU Space."""
    from tiny_hub import sd_pair_cache

    import latent_bridge as lb

    cache = sd_pair_cache(tmp_path / "hub", tmp_path / "saved")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    lb.models.clear_cache()
    yield app_server[0]
    lb.models.clear_cache()  # the tiny models must not serve later tests as "sd-vae"


def page_defaults_request(app, tab: str) -> dict:
    """What a click on the first example photos sends with sd-vae chosen (the rest: defaults)."""
    photos = [handle_file(str(p)) for p in ui.PHOTOS]
    images = {"/interpolate": dict(image_a=photos[0], image_b=photos[1]), "/random_walk": dict(image=photos[0]),
              "/compare": dict(image_a=photos[0], image_b=photos[1]),
              "/keyframes": dict(images=[{"image": p, "caption": None} for p in photos[:4]])}[tab]
    return dict(model="sd-vae", **images, api_name=tab)


def measured_like(app, monkeypatch, cpu: str) -> None:
    """The CPU's real decode times in place of the tiny models'."""
    full, fast = CPU_DECODE_SECONDS[cpu]
    monkeypatch.setitem(app_models.MEASURED, ("sd-vae", False), full)
    monkeypatch.setitem(app_models.MEASURED, ("sd-vae", True), fast)


@pytest.mark.parametrize("cpu", CPU_DECODE_SECONDS)
@pytest.mark.parametrize("tab", ["/interpolate", "/random_walk", "/compare", "/keyframes"])
def test_sd_vae_at_every_tab_s_defaults_fits_a_cpu_server(sd_on_a_cpu_server, client, tab, cpu, monkeypatch):
    """A visitor who picks sd-vae and clicks an example photo sends the page's defaults (64
    frames, 2 paths, the tab's methods, 256 px): with the CPU's real decode times, every tab's
    request must pass the decode-time bound (fast preview starts ticked here), and the full
    decoder must be refused with a message that says what to change. The render itself is
    replaced by a recorder (the next test renders for real)."""
    app = sd_on_a_cpu_server
    assert app_models.FAST_PREVIEW_DEFAULT  # no GPU here
    measured_like(app, monkeypatch, cpu)
    jobs = []

    def recorded(job, progress=None):
        jobs.append(job)
        raise ValueError("prepared")

    monkeypatch.setattr(handlers, "render", recorded)
    with pytest.raises(AppError, match="^prepared$"):
        client.predict(**page_defaults_request(app, tab))
    options = dict(jobs[-1].options)
    assert options["fast_preview"] is True and options["n_paths"] == limits.DEFAULTS.paths
    assert jobs[-1].decoded_frames * jobs[-1].seconds_per_frame <= limits.LIMITS.decode_seconds
    with pytest.raises(AppError, match=r"sd-vae decodes a frame in about .* tick fast preview"):
        client.predict(**page_defaults_request(app, tab), fast_preview=False)
    assert len(jobs) == 1


def test_an_example_photo_through_sd_vae_at_the_defaults_gives_a_video(sd_on_a_cpu_server, client, monkeypatch):
    app = sd_on_a_cpu_server
    measured_like(app, monkeypatch, "float32-only")
    video, *_, diagnostics = client.predict(**page_defaults_request(app, "/interpolate"))
    assert os.path.getsize(video) > 0 and diagnostics["decoder"] == "fast"
    assert diagnostics["frames"] == limits.DEFAULTS.frames and diagnostics["n_paths"] == limits.DEFAULTS.paths
