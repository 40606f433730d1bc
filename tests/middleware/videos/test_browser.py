"""A video in a real browser (headless Chromium, Playwright): the page uploads it, shows the job's progress and
time left, then the grey original and the coloured result side by side, in step, with a download link."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.middleware.conftest import CHROMIUM, make_app
from tests.middleware.fakes import FakeVideoService, serve
from tests.videos import make_clip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs /usr/bin/chromium (apt-get install -y chromium chromium-driver)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright (pip install playwright)")
expect = sync_api.expect


@pytest.fixture
def film(tmp_path) -> Path:
    return make_clip(tmp_path / "Old film.mp4", width=160, height=96, frames=25, audio=True, grey=True)


@pytest.fixture
def coloured(tmp_path) -> bytes:
    return make_clip(tmp_path / "coloured.mp4", width=160, height=96, frames=25, audio=True, grey=False).read_bytes()


@pytest.fixture
def service(coloured):
    return FakeVideoService(result=coloured)


@pytest.fixture
def live_url(service):
    with serve(service.app) as service_url, serve(make_app(service_url)) as url:
        yield url


def only_job(service) -> str:
    [job_id] = service.jobs
    return job_id


def media(page, selector: str) -> dict:
    return page.locator(selector).evaluate(
        "v => ({ready: v.readyState, duration: v.duration, paused: v.paused, time: v.currentTime,"
        " error: v.error && v.error.code, width: v.videoWidth})")


def test_a_video_shows_its_progress_then_both_players_in_step(page, live_url, service, film, tmp_path):
    page.goto(live_url + "/")
    page.click("label[for=stab-off]")
    page.set_input_files("#image-input", str(film))
    row = page.locator(".video-row")
    expect(row).to_have_attribute("data-state", "queued", timeout=20_000)
    assert page.locator(".card").count() == 0  # a video is not sent to the photo route
    job_id = only_job(service)
    assert service.uploads[0]["size"] == film.stat().st_size
    assert service.uploads[0]["args"]["stabilize"] == "false"
    expect(row.locator(".video-state")).to_have_text("Waiting for its turn…")

    service.set(job_id, state="running", frames_done=6, eta_s=42.4, fps=3.0)
    expect(row).to_have_attribute("data-state", "running", timeout=5_000)
    expect(row.locator(".video-state")).to_have_text("Colorizing · 6 of 12 frames · about 42 s left")
    bar = row.locator(".video-progress")
    assert (bar.evaluate("b => b.value"), bar.evaluate("b => b.max")) == (6, 12)
    assert bar.is_visible() and row.locator(".video-cancel").is_visible()
    page.screenshot(path=str(tmp_path / "video-running.png"), full_page=True)
    service.set(job_id, eta_s=None)
    expect(row.locator(".video-state")).to_contain_text("estimating the time left", timeout=5_000)

    service.set(job_id, state="done")
    expect(row).to_have_attribute("data-state", "done", timeout=5_000)
    expect(row.locator(".video-players")).to_be_visible()
    assert not row.locator(".video-cancel").is_visible() and not bar.is_visible()
    page.wait_for_function("() => document.querySelector('.video-after').readyState >= 1"
                           " && document.querySelector('.video-before').readyState >= 1", timeout=15_000)
    after, before = media(page, ".video-after"), media(page, ".video-before")
    assert after["error"] is None and after["duration"] > 0 and after["width"] == 160
    assert before["duration"] > 0
    assert page.locator(".video-after").get_attribute("src") == f"/api/videos/{job_id}/result"
    assert page.locator(".video-before").get_attribute("src").startswith("blob:")

    # Seeking or playing one player moves the other.
    page.locator(".video-before").evaluate("v => { v.currentTime = 0.6; }")
    page.wait_for_function("() => Math.abs(document.querySelector('.video-after').currentTime - 0.6) < 0.05")
    page.locator(".video-after").evaluate("v => v.play()")
    page.wait_for_function("() => !document.querySelector('.video-before').paused", timeout=5_000)
    page.locator(".video-before").evaluate("v => v.pause()")
    page.wait_for_function("() => document.querySelector('.video-after').paused", timeout=5_000)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "video-done.png"), full_page=True)
    print(f"screenshots: {tmp_path}")

    link = row.locator(".video-download")
    assert link.get_attribute("download") == "Old film-colorized.mp4"
    with page.expect_download() as download_info:
        link.click()
    assert Path(download_info.value.path()).read_bytes() == service.result
    assert page.problems == []


def test_a_failed_job_shows_why_and_a_cancel_reaches_the_service(page, live_url, service, film):
    page.goto(live_url + "/")
    page.set_input_files("#image-input", [{"name": film.name, "mimeType": "video/mp4", "buffer": film.read_bytes()},
                                          {"name": "Second reel.mov", "mimeType": "", "buffer": film.read_bytes()}])
    rows = page.locator(".video-row")
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i)).to_have_attribute("data-state", "queued", timeout=20_000)
    jobs = {service.names[job_id]: job_id for job_id in service.jobs}  # sent side by side: either may be first
    first, second = jobs["Old film.mp4"], jobs["Second reel.mov"]
    failed, cancelled = (page.locator(".video-row", has_text=name) for name in ("Old film.mp4", "Second reel.mov"))
    service.set(first, state="failed", error={"code": "unreadable_video",
                                              "message": "The video stream breaks off after 8 frames."})
    expect(failed).to_have_attribute("data-state", "failed", timeout=5_000)
    expect(failed.locator(".video-state")).to_have_text("The video stream breaks off after 8 frames.")
    assert not failed.locator(".video-cancel").is_visible()
    with page.expect_response(lambda response: response.request.method == "DELETE") as deleting:
        cancelled.locator(".video-cancel").click()
    assert deleting.value.status == 204 and service.deleted == [second]
    expect(cancelled).to_have_attribute("data-state", "cancelled")
    expect(cancelled.locator(".video-state")).to_have_text("Cancelled")
    assert page.problems == []


def test_a_result_the_browser_cannot_play_says_so_and_offers_the_download(page, live_url, service, film):
    service.result = b"\x00\x00\x00\x18ftypmp42" + bytes(2000)  # an MP4's first bytes, then nothing playable
    page.goto(live_url + "/")
    page.set_input_files("#image-input", str(film))
    row = page.locator(".video-row")
    expect(row).to_have_attribute("data-state", "queued", timeout=20_000)
    service.set(only_job(service), state="done")
    note = row.locator(".video-note")
    expect(note).to_be_visible(timeout=15_000)
    assert "cannot play" in note.inner_text() and row.get_attribute("data-playable") == "no"
    assert row.locator(".video-download").is_visible()


def test_a_video_over_the_bound_is_refused_before_it_is_sent(page, service, film):
    with serve(service.app) as service_url, serve(make_app(service_url, MAX_VIDEO_BYTES=1_000)) as url:
        page.goto(url + "/")
        page.set_input_files("#image-input", str(film))
        row = page.locator(".video-row")
        expect(row).to_have_attribute("data-state", "failed")
        assert "too large" in row.locator(".video-state").inner_text()
    assert service.uploads == []


@pytest.fixture
def real_service_url(tiny_checkpoint, tmp_path):
    """The model service itself (its video runner in a thread of this process) on the tiny checkpoint."""
    from model_service import create_app

    app = create_app({"MODEL_CHECKPOINT": tiny_checkpoint, "DEFAULT_RENDER_SIZE": 64, "WARMUP": False,
                      "VIDEO_JOBS_DIR": str(tmp_path / "jobs"), "VIDEO_POLL_S": 0.05})
    app.extensions["model_service"].warm_up()  # the runner takes no job before the models are ready
    try:
        with serve(app) as url:
            yield url
    finally:
        app.extensions["model_service.videos"].runner.stop()


def test_the_model_service_colours_a_video_the_page_then_plays(page, real_service_url, film):
    with serve(make_app(real_service_url)) as url:
        page.goto(url + "/")
        page.set_input_files("#image-input", str(film))
        row = page.locator(".video-row")
        expect(row).to_have_attribute("data-state", "done", timeout=120_000)
        assert "25 frames colorized · sound kept" in row.locator(".video-state").inner_text()
        page.wait_for_function("() => document.querySelector('.video-after').readyState >= 1", timeout=15_000)
        after = media(page, ".video-after")
        assert after["error"] is None and after["duration"] > 0.9 and after["width"] == 160
        # the browser's player asks for ranges; the service's 206 reaches it through the web app
        status = page.evaluate("url => fetch(url, {headers: {Range: 'bytes=0-99'}}).then(r => [r.status,"
                               " r.headers.get('Content-Range')])", page.locator(".video-after").get_attribute("src"))
        assert status[0] == 206 and status[1].startswith("bytes 0-99/")
    assert page.problems == []
