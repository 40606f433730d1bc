"""Servers at the HTTP boundary for fault injection: one that stalls, one that hangs up, a stand-in."""

from __future__ import annotations

import io
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
def serve(app: Flask, port: int = 0) -> Iterator[str]:
    """Run a WSGI app on 127.0.0.1 in a thread; yields its URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
