"""``/api/videos`` against a stand-in for the model service's video jobs: the upload goes on streamed and whole,
the job's addresses are the web app's, a result seeks (Range both ways), errors pass through, bounds hold."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tracemalloc

import pytest
import requests
from werkzeug.test import EnvironBuilder, run_wsgi_app

from middleware.security import CONTENT_SECURITY_POLICY
from tests.middleware.conftest import make_app
from tests.middleware.fakes import FakeVideoService, free_port, raw_server, serve, serve_plain

RESULT = bytes(range(256)) * 40  # what a finished job answers: 10,240 bytes whose ranges are easy to check


@pytest.fixture
def service():
    return FakeVideoService(result=RESULT)


@pytest.fixture
def service_url(service):
    with serve(service.app) as url:
        yield url


@pytest.fixture
def web(service_url):
    return make_app(service_url).test_client()


def upload(web, data: bytes, name: str = "film.mp4", mimetype: str = "video/mp4", **fields):
    return web.post("/api/videos", data={"video": (io.BytesIO(data), name, mimetype), **fields})


def submitted(web, service) -> str:
    response = upload(web, os.urandom(5000))
    assert response.status_code == 202
    return response.json["id"]


def test_the_upload_reaches_the_service_whole_and_the_job_is_the_web_apps(web, service):
    video = os.urandom(700_000)  # more than Werkzeug keeps in memory before it spools a file
    response = upload(web, video, model="tiny-b", render_size="fast", vividness="0.5", stabilize="false")
    assert response.status_code == 202
    job = response.json
    assert job["url"] == f"/api/videos/{job['id']}" == response.headers["Location"]
    assert job["result_url"] == f"/api/videos/{job['id']}/result"
    assert job["state"] == "queued" and job["frames_total"] == 12
    [received] = service.uploads
    assert received["size"] == len(video) and received["sha256"] == hashlib.sha256(video).hexdigest()
    assert received["content_length"] > len(video)  # sent with its length, not chunked
    assert (received["content_type"], received["filename"]) == ("video/mp4", "film.mp4")
    assert received["args"] == {"model": "tiny-b", "render_size": "128", "vividness": "0.5", "stabilize": "false"}


def test_a_raw_body_is_taken_too(web, service):
    video = os.urandom(300_000)
    response = web.post("/api/videos?stabilize=true&filename=reel.mov", data=video, content_type="video/quicktime")
    assert response.status_code == 202
    [received] = service.uploads
    assert received["sha256"] == hashlib.sha256(video).hexdigest() and received["filename"] == "reel.mov"
    assert received["args"] == {"stabilize": "true"} and received["content_type"] == "video/quicktime"


def test_the_file_name_reaches_the_service_safely(web, service):
    assert upload(web, b"film", name="Île de Ré, 1952.mp4").status_code == 202
    # the raw body's name comes as it was typed: quotes and line breaks would break the form's header
    raw = web.post("/api/videos", query_string={"filename": 'take "2"\r\nX-Evil: 1.mov'}, data=b"film",
                   content_type="video/mp4")
    assert raw.status_code == 202
    assert [u["filename"] for u in service.uploads] == ["Île de Ré, 1952.mp4", "take _2___X-Evil: 1.mov"]


def test_the_photo_bounds_do_not_refuse_a_video(service, service_url):
    web = make_app(service_url, MAX_CONTENT_LENGTH=100_000, MAX_BODY_BYTES=100_000).test_client()
    video = os.urandom(400_000)
    assert upload(web, video).status_code == 202
    assert service.uploads[0]["sha256"] == hashlib.sha256(video).hexdigest()
    photo = web.post("/api/colorize", data={"image": (io.BytesIO(video), "big.jpg")})
    assert photo.status_code == 413  # the photos' own bound still holds


def test_a_video_takes_nothing_of_the_photos_byte_budget(service, service_url):
    app = make_app(service_url)
    held = []
    service.on_upload = lambda: held.append(app.wsgi_app.held)
    assert upload(app.test_client(), os.urandom(300_000)).status_code == 202
    assert held == [0]  # photos admitted meanwhile have all of FLASK_MAX_BODY_BYTES


def test_the_upload_is_streamed_through_not_held(service, tmp_path):
    """A 24 MB video through the live app: the Python heap (every thread's) never grows by a tenth of it."""
    video = os.urandom(24 << 20)
    boundary = "videoboundary1234"
    body = tmp_path / "form"
    with open(body, "wb") as form:
        form.write(f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="film.mp4"\r\n'
                   "Content-Type: video/mp4\r\n\r\n".encode())
        form.write(video)
        form.write(f"\r\n--{boundary}--\r\n".encode())
    with serve_plain(service.app) as service_url, serve_plain(make_app(service_url)) as url, \
            open(body, "rb") as form:
        tracemalloc.start()
        try:
            response = requests.post(url + "/api/videos", data=form, timeout=60,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert response.status_code == 202
    assert service.uploads[0]["sha256"] == hashlib.sha256(video).hexdigest()
    assert peak < len(video) / 10, f"{peak / 1e6:.1f} MB of Python objects at once"


class CountingStream(io.RawIOBase):
    """An endless request body that counts what was read of it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"\0" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def post_endless(app, content_type: str, content_length: int | None, query: str = "") -> tuple[int, dict, int]:
    """POST an endless body to /api/videos (with that Content-Length, or chunked): status, JSON, bytes read."""
    environ = EnvironBuilder(path="/api/videos", method="POST", content_type=content_type,
                             query_string=query).get_environ()
    body = CountingStream()
    environ["wsgi.input"] = body
    if content_length:
        environ["CONTENT_LENGTH"] = str(content_length)
    else:
        environ.pop("CONTENT_LENGTH", None)
        environ.update(HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input_terminated": True})
    answer, status, _ = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), json.loads(b"".join(answer)), body.read_bytes


def test_a_video_over_its_bound_is_413_and_is_not_read(service, service_url):
    app = make_app(service_url, MAX_VIDEO_BYTES=1_000_000)
    status, answer, read = post_endless(app, "multipart/form-data; boundary=x", 50_000_000)
    assert status == 413 and answer["error"]["code"] == "video_too_large"
    assert "Videos up to 1 MB are accepted" in answer["error"]["message"]
    assert read == 0 and service.uploads == []


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "video/mp4"])
def test_a_chunked_video_is_read_only_up_to_its_bound(service, service_url, content_type):
    app = make_app(service_url, MAX_VIDEO_BYTES=1_000_000)
    status, answer, read = post_endless(app, content_type, None)
    assert status == 413 and answer["error"]["code"] == "video_too_large"
    assert read < 1_000_000 + (3 << 20)  # the bound, its form allowance, a chunk: not the endless rest
    assert service.uploads == []


def test_a_raw_bodys_bad_option_is_answered_before_the_body_is_read(service, service_url):
    status, answer, read = post_endless(make_app(service_url), "video/mp4", 50_000_000, "render_size=9000")
    assert status == 400 and answer["error"]["code"] == "invalid_render_size"
    assert read == 0 and service.uploads == []


def test_the_status_follows_the_job_with_the_web_apps_addresses(web, service):
    job_id = submitted(web, service)
    service.set(job_id, state="running", frames_done=6, eta_s=2.5, fps=4.0)
    job = web.get(f"/api/videos/{job_id}").json
    assert (job["state"], job["frames_done"], job["frames_total"], job["eta_s"]) == ("running", 6, 12, 2.5)
    assert job["url"] == f"/api/videos/{job_id}" and "result_url" not in job
    service.set(job_id, state="done")
    job = web.get(f"/api/videos/{job_id}").json
    assert job["state"] == "done" and job["frames_done"] == 12
    assert job["result_url"] == f"/api/videos/{job_id}/result"
    service.set(job_id, state="failed", error={"code": "unreadable_video", "message": "it breaks off"})
    assert web.get(f"/api/videos/{job_id}").json["error"]["message"] == "it breaks off"


def test_the_result_passes_ranges_both_ways(web, service):
    job_id = submitted(web, service)
    early = web.get(f"/api/videos/{job_id}/result")
    assert early.status_code == 409 and early.json["error"]["code"] == "not_done"
    service.set(job_id, state="done")
    whole = web.get(f"/api/videos/{job_id}/result")
    assert whole.status_code == 200 and whole.data == RESULT and whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Content-Length"] == str(len(RESULT))
    assert "filename=" in whole.headers["Content-Disposition"]
    part = web.get(f"/api/videos/{job_id}/result", headers={"Range": "bytes=1000-1099"})
    assert part.status_code == 206 and part.data == RESULT[1000:1100]
    assert part.headers["Content-Range"] == f"bytes 1000-1099/{len(RESULT)}"
    assert part.headers["Content-Length"] == "100"
    past = web.get(f"/api/videos/{job_id}/result", headers={"Range": f"bytes={len(RESULT) + 5}-"})
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(RESULT)}"
    assert service.range_asked == [None, "bytes=1000-1099", f"bytes={len(RESULT) + 5}-"]


def test_a_range_reaches_a_live_server_a_chunk_at_a_time(service, service_url):
    service.result = os.urandom(3 << 20)
    with serve(make_app(service_url)) as url:
        job_id = requests.post(url + "/api/videos", files={"video": ("f.mp4", b"x" * 100, "video/mp4")},
                               timeout=10).json()["id"]
        service.set(job_id, state="done")
        with requests.get(f"{url}/api/videos/{job_id}/result", headers={"Range": "bytes=1048576-"}, stream=True,
                          timeout=10) as response:
            assert response.status_code == 206
            assert response.raw.read() == service.result[1 << 20:]


def test_delete_cancels_the_job(web, service):
    job_id = submitted(web, service)
    response = web.delete(f"/api/videos/{job_id}")
    assert response.status_code == 204 and service.deleted == [job_id]
    gone = web.get(f"/api/videos/{job_id}")
    assert gone.status_code == 404 and gone.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("status, code, headers", [
    (413, "video_too_large", {}), (415, "not_a_video", {}), (422, "unreadable_video", {}),
    (400, "unknown_model", {}), (503, "busy", {"Retry-After": "7"}),
])
def test_the_services_refusals_pass_through(web, service, status, code, headers):
    service.refuse = (status, code, headers)
    response = upload(web, b"not really a film")
    assert response.status_code == status
    assert response.json["error"] == {"code": code, "message": f"refused: {code}"}
    for name, value in headers.items():
        assert response.headers[name] == value


def test_an_unreachable_service_is_503_and_a_hang_up_is_not_sent_twice():
    web = make_app(f"http://127.0.0.1:{free_port()}").test_client()
    for response in (upload(web, b"film"), web.get("/api/videos/abc123")):
        assert response.status_code == 503 and response.json["error"]["code"] == "model_service_unavailable"
        assert response.headers["Retry-After"]
    with raw_server("hangup") as (url, seen):
        response = upload(make_app(url).test_client(), b"film")
    assert response.status_code == 503 and len(seen) == 1  # the service may hold a job for it already


BAD_IDS = ["NOT-HEX", "..%2F..%2Fetc%2Fpasswd", "a" * 65, "abc%20def", "%2E%2E", "12ab%00"]


@pytest.mark.parametrize("method, path", [("get", "/api/videos/{}"), ("get", "/api/videos/{}/result"),
                                          ("delete", "/api/videos/{}")])
@pytest.mark.parametrize("job_id", BAD_IDS)
def test_a_bad_id_is_404_and_never_reaches_the_service(method, path, job_id):
    path = path.format(job_id)
    web = make_app(f"http://127.0.0.1:{free_port()}").test_client()  # a request sent on would be a 503
    response = getattr(web, method)(path)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("data, code", [
    ({}, "missing_video"),
    ({"video": (io.BytesIO(b""), "film.mp4")}, "empty_video"),
    ({"video": [(io.BytesIO(b"a"), "a.mp4"), (io.BytesIO(b"b"), "b.mp4")]}, "too_many_videos"),
    ({"video": (io.BytesIO(b"a"), "a.mp4"), "stabilize": "maybe"}, "invalid_stabilize"),
    ({"video": (io.BytesIO(b"a"), "a.mp4"), "render_size": "9000"}, "invalid_render_size"),
    ({"video": (io.BytesIO(b"a"), "a.mp4"), "vividness": "2"}, "invalid_vividness"),
])
def test_a_bad_upload_is_400_and_is_not_sent(web, service, data, code):
    response = web.post("/api/videos", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and response.json["error"]["code"] == code
    assert service.uploads == []


def test_the_page_takes_videos_and_may_play_them(web):
    page = web.get("/")
    assert 'accept="image/*,video/*"' in page.get_data(as_text=True)
    assert "media-src 'self' blob:" in CONTENT_SECURITY_POLICY == page.headers["Content-Security-Policy"]
    assert "/api/videos" in web.get("/about").get_data(as_text=True)
