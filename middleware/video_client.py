"""The model service's video jobs (``/v1/videos``): the client's methods for them, timeouts on every call.

An upload is sent from the file it was spooled to, a block at a time (never read whole), and never sent twice:
a service that hung up part way may already hold a job for it. A result is relayed as it arrives, with the
browser's Range asked for and the service's 206 and its range headers answered, so that a player can seek.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import requests

from middleware.client import ModelServiceClient, ModelServiceError, _relay

# The status of a job is a small file the service reads: a poll should not wait long for it.
STATUS_READ_TIMEOUT = 10.0
# Asked of the service as the browser asked them, and answered back: what a seeking <video> needs.
RANGE_REQUEST_HEADERS = ("Range", "If-Range")
RESULT_HEADERS = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified",
                  "Content-Disposition")
RESULT_STATUSES = (200, 206, 416)  # the video, part of it, or a range past its end (with Content-Range)


class FormBody:
    """A video file as the multipart/form-data body of one field ``video``, read from the file as it is sent
    (``len`` tells requests its Content-Length): the service then knows the file's name for its download."""

    def __init__(self, video: IO[bytes], filename: str, content_type: str):
        self.boundary = secrets.token_hex(16)
        name = re.sub(r'[\x00-\x1f"\\]', "_", filename or "video")
        head = (f'--{self.boundary}\r\nContent-Disposition: form-data; name="video"; filename="{name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n").encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        start = video.tell()
        size = video.seek(0, os.SEEK_END) - start
        video.seek(start)
        self.parts, self.length = [io.BytesIO(head), video, io.BytesIO(tail)], len(head) + size + len(tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        while self.parts:
            chunk = self.parts[0].read(size)
            if chunk:
                return chunk
            self.parts.pop(0)
        return b""


@dataclass(frozen=True)
class VideoStream:
    """The service's answer for a result: its status, the headers worth passing on, its body as it arrives."""

    status: int
    headers: tuple[tuple[str, str], ...]
    chunks: Iterator[bytes]


class VideoJobsClient(ModelServiceClient):
    """The model service's client, with its video jobs; ``upload_timeout``: seconds the service may take to
    take in the next block of an upload (the connect timeout would end an upload the first time it waits)."""

    def __init__(self, *args, upload_timeout: float = 30.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.upload_timeout = upload_timeout

    def submit_video(self, video: IO[bytes], filename: str, content_type: str, params: dict[str, str]) -> dict:
        """Send a video (an open file, at its start) to ``POST /v1/videos``, options as query parameters; the
        service's 202."""
        body = FormBody(video, filename, content_type)
        response = self._request("POST", "/v1/videos", params=params, data=body, resend=False,
                                 send_timeout=self.upload_timeout, headers={"Content-Type": body.content_type})
        return self._json(response, "job")

    def video_status(self, job_id: str) -> dict:
        """``GET /v1/videos/<id>``: the job's state, frames done, ETA, error."""
        response = self._request("GET", f"/v1/videos/{job_id}", read_timeout=STATUS_READ_TIMEOUT)
        return self._json(response, "job status")

    def video_result(self, job_id: str, headers: dict[str, str], method: str = "GET") -> VideoStream:
        """``GET /v1/videos/<id>/result`` with the browser's range headers; the answer streamed."""
        asked = {name: headers[name] for name in RANGE_REQUEST_HEADERS if headers.get(name)}
        response = self._request(method, f"/v1/videos/{job_id}/result", headers=asked, stream=True)
        if response.status_code not in RESULT_STATUSES:
            try:
                self._raise_for_status(response)  # reads the error's JSON first
            finally:
                response.close()
            raise ModelServiceError(f"The colorization service answered HTTP {response.status_code} for a video.")
        passed = tuple((name, response.headers[name]) for name in RESULT_HEADERS if name in response.headers)
        return VideoStream(response.status_code, passed, _relay(response))

    def delete_video(self, job_id: str) -> None:
        """``DELETE /v1/videos/<id>``: a queued job removed, a running one cancelled, a finished one deleted."""
        response = self._request("DELETE", f"/v1/videos/{job_id}", read_timeout=STATUS_READ_TIMEOUT)
        self._raise_for_status(response)

    def _json(self, response: requests.Response, what: str) -> dict:
        self._raise_for_status(response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ModelServiceError(f"The colorization service sent a {what} that is not a JSON object.")
        return answer
