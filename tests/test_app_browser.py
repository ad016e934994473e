"""The app in a real browser: headless Chromium (Debian's package) driven by Playwright.

For each tab: open the page, click the first example (which runs the tab), wait until the
video has data to play, save a screenshot, and check that no error toast appeared. On the
Keyframes tab, an image is also removed. Needs
/usr/bin/chromium (`.ci/run` installs it); skipped without it.

Screenshots go to a temporary folder; ``LATENT_BRIDGE_SCREENSHOTS=docs/screenshots python -m
pytest tests/test_app_browser.py`` refreshes the ones in the docs.
"""

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]
playwright_api = pytest.importorskip("playwright.sync_api")

TABS = [  # (tab label, element id prefix of the tab's components, screenshot name)
    ("Interpolate", "interpolate", "interpolate.png"),
    ("Random walk", "walk", "random_walk.png"),
    ("Compare", "compare", "compare.png"),
    ("Keyframes", "keyframes", "keyframes.png"),
]
# Rendering on two shared cores: the first run also loads the model and warms up ffmpeg.
RUN_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("LATENT_BRIDGE_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def page(app_server):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(app_server[1])
        page.wait_for_selector("#interpolate-run")
        yield page
        browser.close()


def video_ready(page, prefix: str) -> None:
    """Wait until the tab's <video> has decoded its first frame (readyState >= HAVE_CURRENT_DATA);
    a src alone can still be an unplayable file."""
    page.wait_for_function(
        """(id) => { const v = document.querySelector(`#${id} video`);
                     return v !== null && v.readyState >= 2; }""",
        arg=f"{prefix}-video", timeout=RUN_TIMEOUT_MS)


@pytest.mark.parametrize("tab, prefix, shot", TABS)
def test_example_click_plays_a_video_without_error(page, screenshots, tab, prefix, shot):
    page.get_by_role("tab", name=tab).click()
    examples = page.locator(f"#{prefix}-examples button")
    examples.first.wait_for()
    examples.first.click()
    video_ready(page, prefix)
    page.wait_for_function(  # the plot arrives with the video; let the progress overlay go
        """(id) => !document.querySelector(`#${id} .progress-text`)""", arg=f"{prefix}-video")
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / shot), full_page=True)
    assert page.locator('[data-testid="toast-body"]').count() == 0


def thumbnail_names(page) -> list[str]:
    """The file names of the Keyframes gallery's thumbnails, in order."""
    return page.eval_on_selector_all(
        "#keyframes-images .gallery-item img", "imgs => imgs.map(i => i.src.split('/').pop())")


def test_keyframe_images_go(page):
    """After the example has filled it: a thumbnail's x removes that image, the others keep their order."""
    page.get_by_role("tab", name="Keyframes").click()
    if page.locator("#keyframes-images .gallery-item img").count() == 0:  # run alone: fill it first
        page.locator("#keyframes-examples button").first.click()
    page.wait_for_function("() => document.querySelectorAll('#keyframes-images .gallery-item img').length == 4")
    after = thumbnail_names(page)
    page.locator('#keyframes-images [aria-label="Delete image"]').last.click()
    page.wait_for_function("() => document.querySelectorAll('#keyframes-images .gallery-item img').length == 3")
    assert thumbnail_names(page) == after[:3]
    assert page.locator('[data-testid="toast-body"]').count() == 0


@pytest.fixture
def tiny_sd_vae(tmp_path, monkeypatch):
    """sd-vae and taesd as tiny random models in a Hugging Face cache, offline."""
    import huggingface_hub.constants

    import latent_bridge as lb
    from tiny_hub import sd_pair_cache

    cache = sd_pair_cache(tmp_path / "hub", tmp_path / "saved")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    lb.models.clear_cache()
    yield
    lb.models.clear_cache()  # the tiny models must not serve later tests as "sd-vae"


def test_a_hub_model_shows_its_controls_and_runs_an_example_photo(page, screenshots, tiny_sd_vae):
    """Choosing sd-vae shows the resolution, the fast preview and the example photos; a photo
    example fills both images and runs (tiny random weights: the frames are noise)."""
    page.reload()  # a fresh page: the screenshot shows the controls, not an earlier result
    page.wait_for_selector("#interpolate-run")
    page.get_by_role("tab", name="Interpolate").click()
    assert not page.locator("#interpolate-hub").is_visible()
    dropdown = page.locator("#interpolate-model input")
    dropdown.click()
    dropdown.fill("sd-vae")
    page.get_by_role("option", name="sd-vae (Hub, downloaded on first use)").click()
    page.locator("#interpolate-hub").wait_for(state="visible")
    photos = page.locator("#interpolate-photos-examples button")
    photos.first.wait_for(state="visible")
    assert page.get_by_label("resolution").first.is_visible()
    assert page.get_by_label("fast preview").first.is_visible()
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / "hub_model.png"), full_page=True)
    panel = page.locator("#tab-interpolate")
    for label, value in (("frames", "8"), ("paths", "1")):  # a short run: the tiny KL-VAE decodes at 256 px
        box = panel.get_by_label(label, exact=True).first
        box.fill(value)
        box.press("Tab")
    photos.first.click()
    video_ready(page, "interpolate")
    assert page.locator('[data-testid="toast-body"]').count() == 0
    page.locator("#interpolate-model input").click()  # back to the default for the tests after
    page.get_by_role("option", name="poses", exact=True).click()
    page.locator("#interpolate-hub").wait_for(state="hidden")


@pytest.fixture
def stand_in_hub(tmp_path, monkeypatch):
    """A tiny KL-VAE under org/tiny-kl in an offline cache, and a stand-in Hub API listing it."""
    import huggingface_hub.constants

    import latent_bridge as lb
    from latent_bridge.app import hub_repos as support
    from tiny_hub import StandInHub, put_in_cache, saved_files, tiny_kl

    files = saved_files(tiny_kl(), tmp_path / "kl")
    put_in_cache(tmp_path / "hub", "org/tiny-kl", files)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(support, "HUB_API", StandInHub({"org/tiny-kl": {n: len(d) for n, d in files.items()}}))
    monkeypatch.setattr(support, "_CHECKED", {})
    lb.models.clear_cache()
    yield
    lb.models.clear_cache()


def test_the_repo_id_field_refuses_a_path_and_loads_a_checked_repo(page, stand_in_hub):
    """Typed in the browser: a path gets the app's message in a toast; a repo id the (stand-in)
    Hub lists loads and becomes the chosen model, with the Hub controls shown."""
    page.reload()
    page.wait_for_selector("#interpolate-run")
    field = page.locator("#tab-interpolate").get_by_label("or a Hub repo id")
    field.fill("../../etc/passwd")
    field.press("Enter")
    toast = page.locator('[data-testid="toast-body"]')
    toast.first.wait_for()
    assert "repo id" in toast.first.inner_text()
    page.reload()
    page.wait_for_selector("#interpolate-run")
    field = page.locator("#tab-interpolate").get_by_label("or a Hub repo id")
    field.fill("org/tiny-kl")
    page.locator("#tab-interpolate [data-testid=\"submit-button\"]").click()
    page.wait_for_function("() => document.querySelector('#interpolate-model input').value.includes('org/tiny-kl')")
    page.locator("#interpolate-hub").wait_for(state="visible")
    assert page.locator('[data-testid="toast-body"]').count() == 0
