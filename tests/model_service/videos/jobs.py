"""Helpers for the video job tests: apps with their own jobs folder, waiting for a job's state, reading results."""

from __future__ import annotations

import io
import time
from pathlib import Path

TERMINAL = ("done", "failed")


def wait_for(client, job_id: str, states=TERMINAL, timeout: float = 60.0) -> dict:
    """The job's status once its state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/v1/videos/{job_id}")
        assert answer.status_code == 200, answer.get_json()
        status = answer.get_json()
        if status["state"] in states:
            return status
        assert time.monotonic() < deadline, f"job still {status['state']} after {timeout:g} s: {status}"
        time.sleep(0.02)


def submit(client, path: Path, **query) -> tuple[int, dict]:
    """POST the file as the raw body; (status, JSON answer)."""
    answer = client.post("/v1/videos", data=Path(path).read_bytes(), content_type="video/mp4", query_string=query)
    return answer.status_code, answer.get_json()


def job_folders(app) -> list[str]:
    """The job (and upload) folders left in the app's jobs folder."""
    folder = Path(app.config["VIDEO_JOBS_DIR"])
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.exists() else []


def decode(data: bytes) -> tuple[list, str, int]:
    """A result's decoded video frames, its pixel format and its number of audio streams."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return frames, stream.codec_context.pix_fmt, len(container.streams.audio)
