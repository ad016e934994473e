"""The app in a real browser: headless Chromium (Debian's package) driven by Playwright.

At a laptop's 1366 x 768, for each tab: the images, examples and run button show before any
scrolling; a click on the first example runs the tab and the video appears in view; screenshots
before and after; no error toast. Also: a photo through the stick-figure model gets its notice,
a photo model runs photos, an image is removed from the Keyframes gallery, the repo id field. Needs
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
    ("Interpolate", "interpolate", "interpolate"),
    ("Random walk", "walk", "random_walk"),
    ("Compare", "compare", "compare"),
    ("Keyframes", "keyframes", "keyframes"),
]
# A laptop's screen: each tab's images, examples and button must show without scrolling.
SCREEN = {"width": 1366, "height": 768}
ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "assets" / "photos").glob("*.jpg"))
# Rendering on two shared cores: the first run also loads the model and warms up ffmpeg.
RUN_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("LATENT_BRIDGE_SCREENSHOTS")
    folder = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(app_server):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser, app_server[1]
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page at 1366 x 768, as a visitor's laptop shows it."""
    browser, url = browser
    page = browser.new_page(viewport=SCREEN)
    page.goto(url)
    page.wait_for_selector("#interpolate-run")
    yield page
    page.close()


def video_ready(page, prefix: str) -> None:
    """Wait until the tab's <video> has decoded its first frame (readyState >= HAVE_CURRENT_DATA);
    a src alone can still be an unplayable file."""
    page.wait_for_function(
        """(id) => { const v = document.querySelector(`#${id} video`);
                     return v !== null && v.readyState >= 2; }""",
        arg=f"{prefix}-video", timeout=RUN_TIMEOUT_MS)
    page.wait_for_function(  # the plot arrives with the video; let the progress overlay go
        """(id) => !document.querySelector(`#${id} .progress-text`)""", arg=f"{prefix}-video")


def in_first_screen(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= SCREEN["height"]


@pytest.mark.parametrize("tab, prefix, shot", TABS)
def test_each_tab_fits_one_screen_and_its_example_plays(page, screenshots, tab, prefix, shot):
    """Before any scrolling: the images, the examples and the run button are in view; one click
    on an example runs the tab, and the video appears in view, beside the inputs."""
    page.get_by_role("tab", name=tab).click()
    page.locator(f"#{prefix}-run").wait_for()
    assert page.evaluate("() => window.scrollY") == 0
    images = "#keyframes-images" if prefix == "keyframes" else f"#tab-{prefix} [data-testid=\"image\"]"
    for selector in (f"#{prefix}-run", f"#{prefix}-examples", images):
        assert in_first_screen(page, selector), (selector, page.locator(selector).first.bounding_box())
    page.screenshot(path=str(screenshots / f"{shot}_before.png"))
    page.locator(f"#{prefix}-examples button").first.click()
    video_ready(page, prefix)
    assert in_first_screen(page, f"#{prefix}-video video")
    page.screenshot(path=str(screenshots / f"{shot}.png"))
    assert page.locator('[data-testid="toast-body"]').count() == 0


def test_a_photo_through_the_stick_figure_model_says_so(page, screenshots):
    """A visitor's colour photo, uploaded as both images with the small default model: the
    result comes with a notice naming what the model knows and what to pick, in view."""
    for name in ("image_a", "image_b"):
        page.locator(f"#interpolate-{name} input[type=file]").set_input_files(str(PHOTOS[1]))
    page.locator("#interpolate-run").click()
    video_ready(page, "interpolate")
    summary = page.locator("#interpolate-summary")
    assert "do not look like what poses knows" in summary.inner_text()
    assert "pick sd-vae or taesd" in summary.inner_text()
    assert in_first_screen(page, "#interpolate-summary")
    page.screenshot(path=str(screenshots / "photo_notice.png"))
    # Another model: the results of the old one go.
    dropdown = page.locator("#interpolate-model input")
    dropdown.click()
    page.get_by_role("option", name="digits (small, offline)").click()
    page.wait_for_function("() => document.querySelector('#interpolate-video video') === null")
    assert "look like" not in summary.inner_text()


def thumbnail_names(page) -> list[str]:
    """The file names of the Keyframes gallery's thumbnails, in order."""
    return page.eval_on_selector_all(
        "#keyframes-images .gallery-item img", "imgs => imgs.map(i => i.src.split('/').pop())")


def test_keyframe_images_go(page):
    """After the example has filled it: a thumbnail's x removes that image, the others keep their order."""
    page.get_by_role("tab", name="Keyframes").click()
    page.locator("#keyframes-examples button").first.click()
    page.wait_for_function("() => document.querySelectorAll('#keyframes-images .gallery-item img').length == 4")
    after = thumbnail_names(page)
    page.locator('#keyframes-images [aria-label="Delete image"]').last.click()
    page.wait_for_function("() => document.querySelectorAll('#keyframes-images .gallery-item img').length == 3")
    assert thumbnail_names(page) == after[:3]
    assert page.locator('[data-testid="toast-body"]').count() == 0


def open_models_panel(page) -> None:
    page.locator("#interpolate-models .label-wrap").first.click()


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


def test_a_photo_model_shows_its_controls_and_runs_a_photo(page, screenshots, tiny_sd_vae):
    """Choosing sd-vae shows the resolution and the fast preview; two photos run (tiny random
    weights: the frames are noise) with no notice: a photo model knows photos."""
    open_models_panel(page)
    assert not page.locator("#interpolate-hub").is_visible()
    dropdown = page.locator("#interpolate-model input")
    dropdown.click()
    dropdown.fill("sd-vae")
    page.get_by_role("option", name="sd-vae (photos, downloaded on first use)").click()
    page.locator("#interpolate-hub").wait_for(state="visible")
    assert page.get_by_label("resolution").first.is_visible()
    assert page.get_by_label("fast preview").first.is_visible()
    panel = page.locator("#tab-interpolate")
    for label, value in (("frames", "8"), ("paths", "1")):  # a short run: the tiny KL-VAE decodes at 256 px
        box = panel.get_by_label(label, exact=True).first
        box.fill(value)
        box.press("Tab")
    for name, photo in (("image_a", PHOTOS[0]), ("image_b", PHOTOS[1])):
        page.locator(f"#interpolate-{name} input[type=file]").set_input_files(str(photo))
    page.locator("#interpolate-run").click()
    video_ready(page, "interpolate")
    page.screenshot(path=str(screenshots / "hub_model.png"))
    assert page.locator('[data-testid="toast-body"]').count() == 0
    assert "look like" not in page.locator("#interpolate-summary").inner_text()


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
    open_models_panel(page)
    field = page.locator("#tab-interpolate").get_by_label("or a Hub repo id")
    field.fill("../../etc/passwd")
    field.press("Enter")
    toast = page.locator('[data-testid="toast-body"]')
    toast.first.wait_for()
    assert "repo id" in toast.first.inner_text()
    page.reload()
    page.wait_for_selector("#interpolate-run")
    open_models_panel(page)
    field = page.locator("#tab-interpolate").get_by_label("or a Hub repo id")
    field.fill("org/tiny-kl")
    page.locator("#tab-interpolate [data-testid=\"submit-button\"]").click()
    page.wait_for_function("() => document.querySelector('#interpolate-model input').value.includes('org/tiny-kl')")
    page.locator("#interpolate-hub").wait_for(state="visible")
    assert page.locator('[data-testid="toast-body"]').count() == 0
