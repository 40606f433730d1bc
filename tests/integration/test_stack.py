"""The real stack (docker-compose.yml): a grey photo in through port 8000, a colour one out; an outage of the
model container answered with 503 (the web app's unreachable budget bounds the wait: tests/middleware/test_errors.py),
and recovery once it is back."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]  # the first test waits for the build


def grey_photo() -> bytes:
    """A real photo (scikit-image's astronaut), in black and white, not square so that a transposed
    answer shows: 512 x 384 JPEG."""
    from skimage import data

    image = Image.fromarray(data.astronaut()).convert("L").crop((0, 0, 512, 384))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def post_photo(web, stack, photo: bytes, timeout: float = 120):
    return web.post(f"{stack.web_url}/api/colorize", timeout=timeout,
                    files={"image": ("astronaut.jpg", photo, "image/jpeg")})


def test_page_and_probes(web, stack):
    page = web.get(stack.web_url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert web.get(stack.web_url + "/healthz", timeout=10).status_code == 200
    assert web.get(stack.web_url + "/readyz", timeout=10).status_code == 200


def test_model_container_is_not_published(stack):
    published = stack.container("model").attrs["NetworkSettings"]["Ports"]
    assert not any(published.values()), published
    assert stack.container("web").attrs["NetworkSettings"]["Ports"]["8000/tcp"]


def test_containers_run_hardened(stack):
    for service in ("model", "web"):
        attrs = stack.container(service).attrs
        assert attrs["Config"]["User"] not in ("", "0", "root"), service
        assert attrs["HostConfig"]["ReadonlyRootfs"] is True, service
        assert attrs["HostConfig"]["Init"] is True, service
        assert attrs["HostConfig"]["Memory"] > 0, service


def test_colorizes_a_photo_through_port_8000(web, stack):
    photo = grey_photo()
    response = post_photo(web, stack, photo)

    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("image/")
    result = Image.open(io.BytesIO(response.content))
    assert result.size == (512, 384)
    assert result.mode == "RGB"
    # The colorizer keeps the photo's own lightness (LAB L) and adds colour (ab).
    lab_in = rgb2lab(np.asarray(Image.open(io.BytesIO(photo)).convert("RGB")))
    lab_out = rgb2lab(np.asarray(result))
    assert np.abs(lab_in[..., 0] - lab_out[..., 0]).mean() < 2.0
    assert np.hypot(lab_out[..., 1], lab_out[..., 2]).mean() > 1.0, "the answer is still grey"
    model = web.get(stack.web_url + "/api/model", timeout=10).json()
    assert response.headers["X-Model-Version"] in str(model)


def test_model_outage_answers_503_then_recovers(web, stack):
    photo = grey_photo()
    model = stack.container("model")
    model.stop(timeout=10)
    try:
        response = post_photo(web, stack, photo, timeout=30)
        assert response.status_code == 503, response.text[:500]
        # Not the read timeout's 504: the web app found the service gone, within its connection tries
        # (bounded by MODEL_SERVICE_UNREACHABLE_BUDGET, tests/middleware/test_errors.py), and says when to retry.
        assert response.json()["error"]["code"] == "model_service_unavailable"
        assert int(response.headers["Retry-After"]) > 0
        assert web.get(stack.web_url + "/readyz", timeout=10).status_code == 503
        assert web.get(stack.web_url + "/healthz", timeout=10).status_code == 200  # the web app is fine
    finally:
        model.start()

    stack.wait_healthy("model", timeout=180)
    deadline = time.monotonic() + 30
    while (response := post_photo(web, stack, photo)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(1)
    assert response.status_code == 200, response.text[:500]
    assert Image.open(io.BytesIO(response.content)).size == (512, 384)


def grey_film(path, frames: int = 750, size: tuple[int, int] = (640, 360)):
    """30 s of a camera panning across the astronaut, in black and white, with a 440 Hz tone."""
    import av
    from skimage import data

    from tests.videos import add_audio

    photo = np.asarray(Image.fromarray(data.astronaut()).convert("L").resize((1024, 1024)))
    width, height = size
    output = av.open(str(path), "w")
    stream = output.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    sound, samples = add_audio(output, frames / 25)
    for index in range(frames):
        left = int((1024 - width) * index / frames)
        grey = np.repeat(photo[300:300 + height, left:left + width, None], 3, axis=2)
        output.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(grey), format="rgb24")))
    output.mux(stream.encode(None))
    for sample in samples:
        output.mux(sound.encode(sample))
    output.mux(sound.encode(None))
    output.close()
    return path


def _video_job(web, stack, clip, timeout: float = 300) -> dict:
    with open(clip, "rb") as file:
        posted = web.post(f"{stack.web_url}/api/videos", files={"video": ("film.mp4", file, "video/mp4")},
                          timeout=120)
    assert posted.status_code == 202, posted.text[:500]
    return posted.json()


def _wait_done(web, stack, job: dict, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = web.get(stack.web_url + job["url"], timeout=10)
        if state.status_code == 200 and state.json()["state"] in ("done", "failed"):
            return state.json()
        time.sleep(1)
    pytest.fail(f"the video job did not end in {timeout} s: {state.text[:300]}")


def test_colours_a_film_with_its_sound_and_the_job_survives_its_container_killed(web, stack, tmp_path):
    import av

    clip = grey_film(tmp_path / "film.mp4")
    job = _video_job(web, stack, clip)
    deadline = time.monotonic() + 120
    while web.get(stack.web_url + job["url"], timeout=10).json()["state"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.5)
    model = stack.container("model")
    model.kill()  # the job's worker dies with its container, with no time to hand the job back
    model.start()
    stack.wait_healthy("model", timeout=180)
    state = _wait_done(web, stack, job)
    assert state["state"] == "done", state
    assert state["attempts"] == 2  # run again from the start by the new container, found on the volume
    result = web.get(stack.web_url + state["result_url"], timeout=60)
    assert result.status_code == 200 and result.headers["Content-Type"] == "video/mp4"
    (tmp_path / "out.mp4").write_bytes(result.content)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        frames = list(container.decode(video=0))
    assert len(frames) == 750 and (frames[0].width, frames[0].height) == (640, 360)
    lab_out = rgb2lab(frames[375].to_ndarray(format="rgb24"))
    assert np.hypot(lab_out[..., 1], lab_out[..., 2]).mean() > 1.0, "the film is still grey"
    seek = web.get(stack.web_url + state["result_url"], headers={"Range": "bytes=100-199"}, timeout=60)
    assert seek.status_code == 206 and seek.content == result.content[100:200]
