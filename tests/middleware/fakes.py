"""Servers at the HTTP boundary for fault injection: one that stalls, one that hangs up; photo and video stand-ins."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as wsgiref_server

from flask import Flask, Response, jsonify, request
from PIL import Image, ImageOps
from werkzeug.serving import make_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


# A 1 x 1 grey PNG: the answer of raw_server's "hangup_once" once it answers.
PNG_1X1 = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b550000000a4944"
                        "4154789c636800000082008177cd72b60000000049454e44ae426082")


@contextmanager
def raw_server(behaviour: str, stall_s: float = 10.0) -> Iterator[tuple[str, list[bytes]]]:
    """``stall``: read the request, then say nothing; ``hangup``: read it, then close; ``hangup_once``: hang
    up on the first request, answer the next ones (a PNG); ``partial``: send the start of an answer, then close.

    Yields the server's URL and the list of requests it received.
    """
    seen: list[bytes] = []
    release = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(2.0)
            try:
                seen.append(self.request.recv(65536))
            except OSError:
                return
            if behaviour == "stall":
                release.wait(stall_s)
            elif behaviour == "partial" or (behaviour == "hangup_once" and len(seen) > 1):
                body = PNG_1X1 if behaviour == "hangup_once" else PNG_1X1[:10]
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: "
                                     + str(len(PNG_1X1)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

    server = _RawServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        release.set()
        server.shutdown()
        server.server_close()


RECEIVED_HINTS: list[str] = []  # the hints fields the stand-in was sent, in order


def fake_model_service() -> Flask:
    """A stand-in speaking the model service's contract (sepia instead of a network): no torch."""
    app = Flask("fake_model_service")

    def error(status: int, code: str, message: str) -> Response:
        response = jsonify(error={"code": code, "message": message})
        response.status_code = status
        return response

    @app.post("/v1/colorize")
    def colorize():
        data = request.files["image"].read() if "image" in request.files else request.get_data()
        if not data:
            return error(400, "empty_image", "no image in the request")
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception:  # noqa: BLE001 - any decode failure is the client's fault here
            return error(400, "corrupt_image", "the image data is corrupt or truncated")
        auto = {"JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "TIFF": "tiff"}.get(image.format, "png")
        fmt = request.values.get("format", auto)  # as the real service
        pages = getattr(image, "n_frames", 1)
        out = io.BytesIO()
        ImageOps.colorize(image.convert("L"), "#301c0a", "#fff0d8").save(out, fmt.upper())
        response = Response(out.getvalue(), mimetype=f"image/{fmt}")
        response.headers.update({"X-Model-Version": "fake-1", "X-Inference-Time-Ms": "1.0"})
        # what the real service says of the photo (its answer here is always 8-bit: sepia)
        sixteen = image.mode.startswith("I;16") and fmt in ("png", "tiff")
        response.headers["X-Bit-Depth"] = "16" if sixteen else "8"
        if pages > 1:
            response.headers.update({"X-Source-Pages": str(pages), "X-Page": "1"})
        if request.values.get("hints"):  # echoed, so a test sees what arrived
            response.headers["X-Hints"] = str(len(json.loads(request.values["hints"])))
            RECEIVED_HINTS.append(request.values["hints"])
        return response

    @app.get("/healthz")
    @app.get("/readyz")
    def ready():
        return jsonify(status="ok")

    @app.get("/v1/models")
    def models():
        return jsonify(architecture={"name": "fake_sepia", "config": {}}, colorize_version="0.0",
                       training={"data": "none"}, metrics={"psnr": 1.0}, weights_sha256="0" * 64)

    return app


@contextmanager
def _running(server) -> Iterator[str]:
    """``server`` answering on a thread until the block ends; yields its URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(app: Flask, port: int = 0) -> Iterator[str]:
    """Run a WSGI app on 127.0.0.1 in a thread; yields its URL."""
    with _running(make_server("127.0.0.1", port, app, threaded=True)) as url:
        yield url


@contextmanager
def serve_plain(app) -> Iterator[str]:
    """A WSGI app on the standard library's server: Werkzeug's reads 10 MB at once after every request (to
    drain the socket), which would hide what the app itself holds."""

    class Server(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    with _running(wsgiref_server("127.0.0.1", 0, app, server_class=Server, handler_class=Quiet)) as url:
        yield url


class FakeVideoService:
    """A stand-in for the model service's video jobs (``/v1/videos``), whose jobs a test moves along itself.

    ``uploads``: per POST (raw or multipart), the video's bytes' count and SHA-256, its Content-Type and file
    name, the request's Content-Length (None: chunked) and query; ``result``: the MP4 a finished job answers
    (Range served as the service does); ``refuse``: (status, code, headers) answered to the next POST instead."""

    def __init__(self, result: bytes = b""):
        self.result = result
        self.jobs: dict[str, dict] = {}
        self.uploads: list[dict] = []
        self.deleted: list[str] = []
        self.names: dict[str, str | None] = {}  # each job's upload's file name
        self.range_asked: list[str | None] = []
        self.refuse: tuple[int, str, dict] | None = None
        self.on_upload: Callable[[], None] | None = None  # called while a POST is being answered
        self.app = self._make_app()

    def set(self, job_id: str, **fields) -> None:
        """Move a job along: ``state="running", frames_done=6, eta_s=3.5``; ``state="done"`` adds its result."""
        job = self.jobs[job_id]
        job.update(fields)
        if job["state"] == "done":
            job.update(result_url=f"/v1/videos/{job_id}/result", audio="none", eta_s=0,
                       frames_done=job["frames_total"])

    def _make_app(self) -> Flask:
        app = Flask("fake_video_service")

        def error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
            response = jsonify(error={"code": code, "message": message})
            response.status_code = status
            response.headers.update(headers or {})
            return response

        @app.post("/v1/videos")
        def submit():
            if self.on_upload:
                self.on_upload()
            multipart = request.mimetype == "multipart/form-data"
            video = request.files.get("video") if multipart else request.stream
            digest, size = hashlib.sha256(), 0
            while chunk := video.read(1 << 16):
                digest.update(chunk)
                size += len(chunk)
            received = {"size": size, "sha256": digest.hexdigest(), "content_length": request.content_length,
                        "content_type": video.mimetype if multipart else request.mimetype,
                        "filename": video.filename if multipart else None, "args": request.args.to_dict()}
            self.uploads.append(received)
            if self.refuse:
                status, code, headers = self.refuse
                self.refuse = None
                return error(status, code, f"refused: {code}", headers)
            job_id = secrets.token_hex(16)
            self.names[job_id] = received["filename"]
            video = {"width": 96, "height": 64, "duration_s": 0.48, "fps": 25.0, "audio": None}
            self.jobs[job_id] = {"id": job_id, "state": "queued", "frames_done": 0, "frames_total": 12,
                                 "eta_s": None, "fps": None, "video": video, "attempts": 1, "cuts": 0,
                                 "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
            body = {"id": job_id, "state": "queued", "url": f"/v1/videos/{job_id}",
                    "result_url": f"/v1/videos/{job_id}/result", "frames_total": 12, "video": video}
            return body, 202, {"Location": f"/v1/videos/{job_id}"}

        @app.get("/v1/videos/<job_id>")
        def status(job_id: str):
            if job_id not in self.jobs:
                return error(404, "not_found", "no such video job")
            return jsonify({**self.jobs[job_id], "url": f"/v1/videos/{job_id}"})

        @app.get("/v1/videos/<job_id>/result")
        def result(job_id: str):
            if job_id not in self.jobs:
                return error(404, "not_found", "no such video job")
            if self.jobs[job_id]["state"] != "done":
                return error(409, "not_done", f"the job is {self.jobs[job_id]['state']}")
            self.range_asked.append(request.headers.get("Range"))
            response = Response(self.result, mimetype="video/mp4")
            response.headers["Content-Disposition"] = 'attachment; filename="video-colorized.mp4"'
            return response.make_conditional(request, accept_ranges=True, complete_length=len(self.result))

        @app.delete("/v1/videos/<job_id>")
        def delete(job_id: str):
            if self.jobs.pop(job_id, None) is None:
                return error(404, "not_found", "no such video job")
            self.deleted.append(job_id)
            return "", 204

        return app
