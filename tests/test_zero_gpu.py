"""The app on a ZeroGPU Space, with a stand-in ``spaces`` package (tests/zero_gpu/spaces.py)
that pickles every GPU call's arguments and results as ZeroGPU does, and records the duration
each call asks for. Every tab runs through HTTP and gradio_client, a Hub model (tiny random
models under sd-vae's and taesd's repo ids, in a Hugging Face cache layout) with a 3:2 photo.
"""

import importlib
import importlib.util
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest
from gradio_client import Client, handle_file

import latent_bridge as lb
from servers import serving
from tiny_hub import sd_pair_cache

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(t=0.5, frames=6, paths=2, seed=0, fps=8)


@pytest.fixture(scope="module")
def zero(tmp_path_factory):
    """app.py imported afresh as on a ZeroGPU Space: (module, the stand-in spaces, client)."""
    patch = pytest.MonkeyPatch()
    cache = sd_pair_cache(tmp_path_factory.mktemp("hf") / "hub", tmp_path_factory.mktemp("saved"))
    patch.setenv("HF_HUB_CACHE", str(cache))
    patch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    patch.setenv("SPACES_ZERO_GPU", "true")
    patch.syspath_prepend(str(Path(__file__).parent / "zero_gpu"))
    patch.delitem(sys.modules, "spaces", raising=False)
    for name in [name for name in sys.modules if name.startswith("latent_bridge.app")]:
        patch.delitem(sys.modules, name)  # the app layer imported afresh, under the stand-in spaces
    lb.models.clear_cache()
    spec = importlib.util.spec_from_file_location("app_on_zero_gpu", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import spaces

    try:
        with serving(module) as url:
            yield module, spaces, Client(url, verbose=False, analytics_enabled=False)
    finally:
        patch.undo()
        lb.models.clear_cache()
        lb.models.CACHE_SIZE = 3


def last_render(spaces):
    return [call for call in spaces.CALLS if call["function"] == "render"][-1]


def test_models_are_loaded_at_import(zero):
    module, _, _ = zero
    assert importlib.import_module("latent_bridge.app.zerogpu").ZERO_GPU
    loaded = {key[0] for key in lb.models._cache}
    assert {"digits", "fashion", "poses", "sd-vae", "taesd"} <= loaded


def test_every_tab_renders_through_pickled_gpu_calls(zero):
    module, spaces, client = zero
    poses = [handle_file(str(p)) for p in lb.models.load_cached("poses").example_images()[:4]]
    video, *_, diagnostics = client.predict(model="poses", image_a=poses[0], image_b=poses[1], method="ou",
                                            **SMALL, api_name="/interpolate")
    assert Path(video).stat().st_size > 0 and diagnostics["frames"] == 6
    client.predict(model="poses", image=poses[0], method="gp", **SMALL, api_name="/random_walk")
    client.predict(model="poses", image_a=poses[0], image_b=poses[1], methods=["linear", "ou"], **SMALL,
                   api_name="/compare")
    client.predict(model="poses", images=[{"image": p, "caption": None} for p in poses[:3]], method="gp",
                   t=1.0, frames_per_segment=5, paths=1, seed=0, fps=8, loop=True, hold=0, easing="linear",
                   seconds=0, api_name="/keyframes")
    renders = [call for call in spaces.CALLS if call["function"] == "render"]
    assert len(renders) == 4
    for call in renders:  # small both ways: image tensors and names in, arrays and numbers out
        assert call["sent"] < 200_000 and call["received"] < 2_000_000 and call["duration"] >= 15
    assert any(call["function"] == "measure_decoding" for call in spaces.CALLS)  # timed in the GPU context


def test_a_3_to_2_photo_through_sd_vae_gives_a_3_to_2_video(zero):
    import imageio_ffmpeg

    module, spaces, client = zero
    coffee = handle_file(str(ROOT / "assets" / "photos" / "coffee.jpg"))  # 600 x 400
    cat = handle_file(str(ROOT / "assets" / "photos" / "cat.jpg"))
    video, _, grid, _, _, _, diagnostics = client.predict(
        model="sd-vae", image_a=coffee, image_b=cat, method="ou", **{**SMALL, "paths": 1}, resolution=256,
        fast_preview=True, api_name="/interpolate")
    reader = imageio_ffmpeg.read_frames(video)
    width, height = next(reader)["size"]
    reader.close()
    assert abs(width / height - 1.5) < 0.02
    assert diagnostics["image_shape"] == [170, 256] and diagnostics["decoder"] == "fast"
    call = last_render(spaces)
    # The duration follows the request: frames x paths x the measured time a frame, with margin.
    seconds = importlib.import_module("latent_bridge.app.models").MEASURED[("sd-vae", True)]
    assert call["duration"] == importlib.import_module("latent_bridge.app.costs").gpu_seconds(6, seconds * (170 * 256) / (256 * 256))


def test_a_bad_request_is_refused_before_any_gpu_call(zero):
    from gradio_client.exceptions import AppError

    _, spaces, client = zero
    coffee = handle_file(str(ROOT / "assets" / "photos" / "coffee.jpg"))
    before = len(spaces.CALLS)
    with pytest.raises(AppError, match="resolution must be at most 1024"):
        client.predict(model="sd-vae", image_a=coffee, image_b=coffee, method="ou", **SMALL, resolution=4096,
                       api_name="/interpolate")
    assert len(spaces.CALLS) == before


def test_the_space_preloads_every_hub_model_the_app_offers():
    """README.md's front matter asks the Space to download each Hub model at build time
    (``preload_from_hub``), exactly the files the loader reads, so none downloads in the worker."""
    import yaml

    front = yaml.safe_load((ROOT / "README.md").read_text().split("---")[1])
    preloaded = dict(line.split(" ", 1) for line in front["preload_from_hub"])
    offered = {repo for repo, _, _ in lb.models.hub.HUB_ALIASES.values()}
    assert set(preloaded) == offered
    for files in preloaded.values():
        assert set(files.split(",")) == {"config.json", lb.models.hub.WEIGHTS_NAME}
