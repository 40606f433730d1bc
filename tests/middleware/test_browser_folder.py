"""Folders and many photos in a real browser: the queue, cancel, retry, "download all" as one ZIP, the ZIP
writer's bytes, and what the no-JavaScript form does with a folder's worth of files.

The app runs against a fake model service that counts the photos it is sent. ``SCREENSHOT_DIR=docs`` writes
the finished queue's screenshot to docs/folder-queue.png (else into the test's temporary folder)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import threading
import zipfile
from pathlib import Path

import pytest
from flask import jsonify, request
from PIL import Image

from tests.conftest import natural_image
from tests.middleware.conftest import CHROMIUM, make_app
from tests.middleware.fakes import fake_model_service, serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs /usr/bin/chromium (apt-get install -y chromium chromium-driver)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright (pip install playwright)")
expect = sync_api.expect


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class CountingService:
    """The fake model service, recording the photos it is sent (by digest) and how many it held at once.
    ``hold`` cleared: every request waits until it is set again; ``fail_once``: those photos get one 503."""

    def __init__(self) -> None:
        self.app = fake_model_service()
        self.seen: list[str] = []
        self.fail_once: set[str] = set()
        self.hold = threading.Event()
        self.hold.set()
        self.active = self.max_active = 0
        self._lock = threading.Lock()
        self.app.before_request(self._before)
        self.app.teardown_request(self._after)

    def _before(self):
        if request.path != "/v1/colorize":
            return None
        key = digest(request.get_data())
        with self._lock:
            self.seen.append(key)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.hold.wait(30)
        if key in self.fail_once:
            self.fail_once.discard(key)
            response = jsonify(error={"code": "busy", "message": "all inference slots are taken"})
            response.status_code, response.headers["Retry-After"] = 503, "1"
            return response
        return None

    def _after(self, exc) -> None:
        if request.path == "/v1/colorize":
            with self._lock:
                self.active -= 1


@pytest.fixture
def service():
    counting = CountingService()
    yield counting
    counting.hold.set()  # no request of a failed test left waiting


@pytest.fixture
def live_url(service):
    with serve(service.app) as service_url, serve(make_app(service_url)) as url:
        yield url


def save_photo(path: Path, size: tuple[int, int], seed: int) -> tuple[int, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = natural_image(size[1], size[0], seed=seed).convert("L")
    image.save(path, quality=85) if path.suffix == ".jpg" else image.save(path)
    return size


@pytest.fixture
def album(tmp_path) -> tuple[Path, dict[str, tuple[int, int]]]:
    """ "Family album": 30 photos in two sub-folders, two of them with the same stem (beach.jpg, beach.png),
    and three files that are not photos. Returns the folder and {expected ZIP entry: size}."""
    root = tmp_path / "Family album"
    expected = {}
    for i in range(28):
        folder = "1950s" if i < 14 else "1960s"
        size = (40 + i, 30 + i % 5)
        save_photo(root / folder / f"photo {i:02d}.jpg", size, seed=i)
        expected[f"Family album/{folder}/photo {i:02d}-colorized.png"] = size
    # One folder holds beach.jpg and beach.png: both results are beach-colorized.png, the second one renamed.
    expected["Family album/1960s/beach-colorized.png"] = save_photo(root / "1960s" / "beach.jpg", (64, 48), 40)
    expected["Family album/1960s/beach-colorized (2).png"] = save_photo(root / "1960s" / "beach.png", (50, 60), 41)
    (root / "1950s" / "notes.txt").write_text("names on the back of the photos")
    (root / "1950s" / "._photo 00.jpg").write_bytes(b"\x00\x05\x16\x07 macOS metadata")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return root, expected


def test_a_folder_of_30_photos_is_queued_and_downloads_as_one_zip(page, live_url, service, album, tmp_path):
    root, expected = album
    page.goto(live_url + "/")
    page.click("label[for=fmt-png]")
    page.set_input_files("#folder-input", str(root))
    summary = page.locator(".queue-summary")
    expect(summary).to_have_text("30 of 30 done · 3 skipped (not photos)", timeout=90_000)
    rows = page.locator(".queue-row")
    expect(rows).to_have_count(30)
    expect(page.locator('.queue-row[data-state="done"]')).to_have_count(30)
    assert page.locator(".card").count() == 0  # no full-size before/after cards for a folder
    assert len(service.seen) == 30 and service.max_active <= 2
    assert page.locator(".queue-progress").evaluate("el => [el.value, el.max]") == [30, 30]
    first = rows.first
    assert first.locator(".queue-name").inner_text() == "photo 00.jpg"
    assert first.locator(".queue-folder").inner_text() == "Family album/1950s"
    expect(first.locator(".queue-state")).to_have_text("Done · 40 × 30")
    # Thumbnails are small images of their own, not the full-size results scaled down.
    expect(first.locator(".queue-thumb img")).to_have_js_property("naturalWidth", 96)
    assert page.locator(".queue-cancel").is_hidden() and page.locator(".queue-retry").is_hidden()

    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "folder-queue.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download all (30)").click()
    download = download_info.value
    assert download.suggested_filename == "Family album-colorized.zip"
    with zipfile.ZipFile(download.path()) as archive:
        assert archive.testzip() is None  # every entry's CRC-32 matches its bytes
        assert sorted(archive.namelist()) == sorted(expected)
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            with Image.open(io.BytesIO(archive.read(info))) as image:
                assert (image.format, image.size) == ("PNG", expected[info.filename]), info.filename
    assert page.problems == []


def row(page, name: str):
    exact = re.compile(f"^{re.escape(name)}$")
    return page.locator(".queue-row").filter(has=page.locator(".queue-name", has_text=exact))


def test_a_failed_photo_shows_why_and_retry_sends_only_it(page, live_url, service, tmp_path):
    folder = tmp_path / "scans"
    for name in ("a", "b", "c"):
        save_photo(folder / f"{name}.jpg", (48, 36), seed=ord(name))
    (folder / "broken.jpg").write_bytes(b"not a photo, whatever its name says")
    busy = digest((folder / "b.jpg").read_bytes())
    service.fail_once.add(busy)
    page.goto(live_url + "/")
    page.set_input_files("#folder-input", str(folder))
    expect(page.locator(".queue-summary")).to_have_text("2 of 4 done · 2 failed", timeout=60_000)
    broken = row(page, "broken.jpg")
    expect(broken).to_have_attribute("data-state", "failed")
    expect(broken.locator(".queue-state")).to_contain_text("not an image we can read")
    b = row(page, "b.jpg")
    expect(b).to_have_attribute("data-state", "failed")
    expect(b.locator(".queue-state")).to_have_text("all inference slots are taken")
    assert service.seen.count(busy) == 1 and len(service.seen) == 3  # the web app refused broken.jpg itself

    # broken.jpg would be refused again: only b.jpg is retried.
    page.get_by_role("button", name="Retry failed (1)").click()
    expect(page.locator(".queue-summary")).to_have_text("3 of 4 done · 1 failed", timeout=60_000)
    expect(b).to_have_attribute("data-state", "done")
    expect(broken).to_have_attribute("data-state", "failed")
    assert service.seen.count(busy) == 2 and len(service.seen) == 4
    expect(page.locator(".queue-retry")).to_be_hidden()
    assert [p for p in page.problems if "Failed to load resource" not in p] == []


def test_cancel_aborts_the_requests_in_flight_and_never_sends_the_waiting_ones(page, live_url, service, tmp_path):
    paths = [tmp_path / f"p{i:02d}.jpg" for i in range(12)]
    for i, path in enumerate(paths):
        save_photo(path, (40, 30), seed=i)
    sent, aborted = [], []
    page.on("request", lambda r: "/api/colorize" in r.url and sent.append(r.url))
    page.on("requestfailed", lambda r: "/api/colorize" in r.url and aborted.append(r.failure))
    service.hold.clear()
    page.goto(live_url + "/")
    page.set_input_files("#image-input", [str(p) for p in paths])  # ten or more files: the queue, not cards
    expect(page.locator('.queue-row[data-state="working"]')).to_have_count(2, timeout=30_000)
    expect(page.locator('.queue-row[data-state="waiting"]')).to_have_count(10)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".queue-summary")).to_have_text("0 of 12 done · 12 cancelled")
    service.hold.set()  # the two the service holds are answered now, to a browser that stopped listening
    page.wait_for_timeout(1500)
    assert len(sent) == 2 and len(aborted) == 2 and all("ABORTED" in f for f in aborted)
    assert len(service.seen) == 2
    expect(page.locator('.queue-row[data-state="cancelled"]')).to_have_count(12)
    assert page.locator(".card").count() == 0

    page.get_by_role("button", name="Resume (12)").click()
    expect(page.locator(".queue-summary")).to_have_text("12 of 12 done", timeout=60_000)
    assert len(sent) == 14 and len(service.seen) == 14


DROP_A_FOLDER = """async (photos) => {
  // A dropped folder as Chrome hands it over: FileSystemEntry objects, directories read 100 entries at a time.
  const file = (name, bytes, type) => new File([bytes], name, { type });
  const jpeg = (i, name) => file(name, Uint8Array.from(atob(photos[i]), (c) => c.charCodeAt(0)), "image/jpeg");
  const fileEntry = (path, made) => ({
    isFile: true, isDirectory: false, fullPath: "/" + path,
    file: (ok, fail) => (made ? ok(made) : fail(new DOMException("gone", "NotFoundError"))),
  });
  const dirEntry = (path, children) => ({
    isFile: false, isDirectory: true, fullPath: "/" + path,
    createReader() {
      let at = 0;
      const next = () => { at += 100; return children.slice(at - 100, at); };
      return { readEntries(ok) { const batch = next(); setTimeout(() => ok(batch)); } };
    },
  });
  const notes = Array.from({ length: 150 },
    (_, i) => fileEntry(`Scans/a/notes ${i}.txt`, file(`notes ${i}.txt`, "x", "text/plain")));
  const top = dirEntry("Scans", [
    dirEntry("Scans/a", [...notes, fileEntry("Scans/a/one.jpg", jpeg(0, "one.jpg"))]),
    dirEntry("Scans/b", [dirEntry("Scans/b/c", [fileEntry("Scans/b/c/two.jpg", jpeg(1, "two.jpg"))])]),
    fileEntry("Scans/three.jpg", jpeg(2, "three.jpg")),
    fileEntry("Scans/vanished.jpg", null),
  ]);
  const transfer = { types: ["Files"], files: [], items: [{ kind: "file", webkitGetAsEntry: () => top }] };
  const drop = new Event("drop", { bubbles: true, cancelable: true });
  Object.defineProperty(drop, "dataTransfer", { value: transfer });
  window.dispatchEvent(drop);
  return drop.defaultPrevented;
}"""


def test_a_dropped_folder_is_read_recursively(page, live_url, service, tmp_path):
    photos = []
    for i, size in enumerate([(40, 30), (30, 40), (50, 20)]):
        save_photo(tmp_path / f"{i}.jpg", size, seed=i)
        photos.append(base64.b64encode((tmp_path / f"{i}.jpg").read_bytes()).decode())
    page.goto(live_url + "/")
    assert page.evaluate(DROP_A_FOLDER, photos)
    # 150 notes and one file that could not be read are skipped; the three photos, at any depth, are queued.
    expect(page.locator(".queue-summary")).to_have_text("3 of 3 done · 151 skipped (not photos)", timeout=60_000)
    assert page.locator(".queue-row .queue-name").all_inner_texts() == ["one.jpg", "two.jpg", "three.jpg"]
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download all (3)").click()
    with zipfile.ZipFile(download_info.value.path()) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["Scans/a/one-colorized.jpg", "Scans/b/c/two-colorized.jpg",
                                      "Scans/three-colorized.jpg"]
        sizes = [Image.open(io.BytesIO(archive.read(name))).size for name in archive.namelist()]
        assert sizes == [(40, 30), (30, 40), (50, 20)]
    assert page.problems == []


BUILD_A_ZIP = """async () => {
  const Z = window.ColorizeZip;
  const big = new Uint8Array(300000).map((_, i) => (i * 7919 + (i >> 9)) % 251);
  const given = [
    ["a/hello.txt", new Blob(["hello"])],
    ["ü/straße ✓.bin", new Blob([big.slice(0, 150000), big.slice(150000)])],
    ["empty", new Blob([])],
    ["A/Hello.txt", new Blob(["second"])],
    ["../../etc/./passwd", new Blob(["x"])],
  ];
  const taken = new Set();
  const entries = [];
  for (const [path, blob] of given) {
    entries.push({ path: Z.uniquePath(Z.safePath(path), taken), blob, crc: await Z.crc32(blob) });
  }
  const bytes = new Uint8Array(await Z.buildZip(entries, new Date(2024, 4, 17, 13, 45, 31)).arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const refused = [];
  for (const tooMany of [Array.from({ length: 65536 }, (_, i) => ({ path: `${i}`, blob: new Blob([]), crc: 0 })),
                         [{ path: "a", blob: { size: 3e9 }, crc: 0 }, { path: "b", blob: { size: 2e9 }, crc: 0 }]]) {
    try { Z.buildZip(tooMany); refused.push(null); } catch (error) { refused.push(`${error.name}: ${error.message}`); }
  }
  return { zip: btoa(text), crcOfBig: await Z.crc32(new Blob([big])), refused };
}"""


def test_the_zip_writer_makes_archives_python_reads(page, live_url):
    import zlib

    page.goto(live_url + "/")
    built = page.evaluate(BUILD_A_ZIP)
    data = base64.b64decode(built["zip"])
    big = bytes((i * 7919 + (i >> 9)) % 251 for i in range(300000))
    assert built["crcOfBig"] == zlib.crc32(big)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["a/hello.txt", "ü/straße ✓.bin", "empty", "A/Hello (2).txt", "etc/passwd"]
        assert [archive.read(n) for n in archive.namelist()] == [b"hello", big, b"", b"second", b"x"]
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED and info.flag_bits & 0x800  # UTF-8 names
            assert info.date_time == (2024, 5, 17, 13, 45, 30)  # DOS time: two-second steps
        headers = sum(30 + 46 + 2 * len(name.encode()) for name in archive.namelist())
    assert len(data) == headers + len(b"hello") + len(big) + len(b"second") + len(b"x") + 22  # stored, as given
    first, second = built["refused"]
    assert first.startswith("RangeError") and "65535" in first
    assert second.startswith("RangeError") and "4 GB" in second


@pytest.fixture
def no_js_page(browser):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def tiny_jpegs(count: int, size: tuple[int, int] = (16, 12)) -> list[dict]:
    buf = io.BytesIO()
    natural_image(size[1], size[0]).convert("L").save(buf, "JPEG")
    return [{"name": f"p{i:03d}.jpg", "mimeType": "image/jpeg", "buffer": buf.getvalue()} for i in range(count)]


def submit(page, files: list[dict]):
    page.set_input_files("#image-input", files)
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    return navigation.value


def test_without_javascript_a_folders_worth_of_files_gets_a_clear_answer(no_js_page, live_url):
    page = no_js_page
    page.goto(live_url + "/")
    expect(page.locator(".folder-pick")).to_be_hidden()  # the folder picker needs the script
    # 12 files: the first 8 (MAX_FILES_PER_FORM) are colorized, the other 4 named as not colorized.
    response = submit(page, tiny_jpegs(12))
    assert response.status == 200
    expect(page.locator(".pair")).to_have_count(8)
    expect(page.locator(".result .alert")).to_have_count(4)
    assert "at most 8 photos" in page.locator(".result .alert").first.inner_text()
    # 300 tiny files, far under the body limit but over the form's 64 parts: 413, saying so.
    page.goto(live_url + "/")
    response = submit(page, tiny_jpegs(300))
    assert response.status == 413
    assert page.locator("h1").inner_text() == "Too many files at once"
    assert "up to 8 photos" in page.locator(".lede").inner_text()


def test_without_javascript_too_many_bytes_is_a_413_that_says_so(browser, service):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    with serve(service.app) as service_url, serve(make_app(service_url, MAX_CONTENT_LENGTH=100_000)) as url:
        page.goto(url + "/")
        response = submit(page, [{**f, "buffer": f["buffer"] + b"\0" * 80_000} for f in tiny_jpegs(3)])
        assert response.status == 413
        assert page.locator("h1").inner_text() == "That upload is too large"
        assert re.search(r"It is 0\.2 MB; up to 0\.1 MB are accepted at once, all its photos together",
                         page.locator(".lede").inner_text())
    assert service.seen == []
    context.close()
