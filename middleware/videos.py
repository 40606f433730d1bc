"""Videos: ``POST /api/videos`` (``curl -F video=@film.mp4``) starts a job at the model service; the job's
status, its result (an MP4 a player can seek in) and its cancelling are the same resource under /api/videos/<id>.

An upload is spooled to a temporary file (never held in memory) and sent on from it; it is bounded by
MAX_VIDEO_BYTES (``FLASK_MAX_VIDEO_BYTES``), not by the photos' MAX_CONTENT_LENGTH, and goes around the
photos' byte budget (colorize/bodies.py), which bounds the bodies a worker holds in memory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import IO

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from middleware.client import ModelServiceError, current_client
from middleware.uploads import UploadError, parse_model, parse_options, parse_vividness

bp = Blueprint("videos", __name__)
UPLOAD_PATH = "/api/videos"
JOB_ID = re.compile(r"[0-9a-f]{1,64}")  # the service's ids are random hex: nothing else reaches its paths
# A form's parts besides the video (its options, the boundaries) may add this much to MAX_VIDEO_BYTES.
FORM_ALLOWANCE = 1 << 20
_CHUNK = 1 << 20
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}



@bp.app_template_filter("bytes_text")
def bytes_text(size: int) -> str:
    """"2 GiB" for a power-of-two bound (the service's VIDEO_MAX_BYTES), else "160 MB"."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size / 1e9:g} GB" if size >= 1e9 else f"{size / 1e6:g} MB"


def _too_large(limit: int) -> UploadError:
    return UploadError(413, "video_too_large", f"That video is too large. Videos up to {bytes_text(limit)} are "
                                               "accepted.")


def _spooled_body() -> IO[bytes]:
    """A raw body (``curl --data-binary @film.mp4 -H 'Content-Type: video/mp4'``) copied to a temporary file."""
    spool = tempfile.TemporaryFile(dir=current_app.config.get("VIDEO_SPOOL_DIR") or None)
    try:
        shutil.copyfileobj(request.stream, spool, _CHUNK)  # the stream stops at max_content_length: 413
    except BaseException:
        spool.close()
        raise
    return spool


def _upload() -> tuple[IO[bytes], str, str, dict[str, str]]:
    """The video's file, its name and declared type, and the options for the service (a raw body's, from the
    query, checked before the body is read)."""
    if request.mimetype == "multipart/form-data":
        request.spool_files = True  # middleware.security.InMemoryRequest: this form's files go to disk
        files = request.files.getlist("video")
        if len(files) > 1:
            raise UploadError(400, "too_many_videos", f"The field 'video' holds {len(files)} files: send one "
                                                      "video per request.")
        if not files or not files[0].filename:
            raise UploadError(400, "missing_video", "No video was uploaded: send it as the multipart file "
                                                    "field 'video' (curl -F video=@film.mp4 ...).")
        return files[0].stream, files[0].filename, files[0].mimetype, _params(request.values)
    if not request.content_length and "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        raise UploadError(400, "missing_video", "No video was uploaded: send it as the multipart file field "
                                                "'video' (curl -F video=@film.mp4 ...).")
    params = _params(request.args)
    return _spooled_body(), request.args.get("filename") or "video", request.mimetype, params


def _params(values: MultiDict) -> dict[str, str]:
    """The options the service is sent, checked: ``model``, ``render_size``, ``vividness``, ``stabilize``."""
    render_size, _ = parse_options(MultiDict({"render_size": values.get("render_size", "")}))  # no format here
    params = {"model": parse_model(values), "render_size": render_size and str(render_size),
              "vividness": parse_vividness(values), "stabilize": parse_stabilize(values)}
    return {name: value for name, value in params.items() if value}


def parse_stabilize(values: MultiDict) -> str | None:
    """``stabilize``: true (colours carried from frame to frame, the service's default) or false."""
    raw = (values.get("stabilize") or "").strip().lower()
    if not raw:
        return None
    if raw not in _TRUE | _FALSE:
        raise UploadError(400, "invalid_stabilize", f"stabilize must be true or false, got {raw[:20]!r}")
    return "true" if raw in _TRUE else "false"


@bp.post(UPLOAD_PATH)
def submit() -> Response:
    """Multipart field ``video`` (or the video as the body), with ``model``, ``render_size``, ``vividness``
    and ``stabilize``; answers the service's 202 with the job's addresses here."""
    limit = int(current_app.config["MAX_VIDEO_BYTES"])
    if (request.content_length or 0) > limit + FORM_ALLOWANCE:
        raise _too_large(limit)  # refused before a byte of it is read
    request.max_content_length = limit + FORM_ALLOWANCE
    try:
        video, filename, declared, params = _upload()
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    try:
        size = video.seek(0, os.SEEK_END)
        video.seek(0)
        if not size:
            raise UploadError(400, "empty_video", "The uploaded video is empty.")
        if size > limit:
            raise _too_large(limit)
        content_type = declared if declared.startswith("video/") else "application/octet-stream"
        job = current_client().submit_video(video, filename, content_type, params)
    finally:
        video.close()
    public = _public(job)
    response = jsonify(public)
    response.status_code = 202
    response.headers["Location"] = public["url"]
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(f"{UPLOAD_PATH}/<job_id>")
def status(job_id: str) -> Response:
    """The job: ``state`` (queued, running, done, failed), ``frames_done``, ``frames_total``, ``eta_s``, ..."""
    response = jsonify(_public(current_client().video_status(_checked(job_id))))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(f"{UPLOAD_PATH}/<job_id>/result")
def result(job_id: str) -> Response:
    """The coloured MP4 as the service sends it, a range of it when the browser asks for one."""
    answer = current_client().video_result(_checked(job_id), request.headers, request.method)
    response = Response(answer.chunks, status=answer.status, headers=list(answer.headers))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete(f"{UPLOAD_PATH}/<job_id>")
def cancel(job_id: str) -> Response:
    """Cancel a queued or running job, or delete a finished one's result."""
    current_client().delete_video(_checked(job_id))
    return Response(status=204)


def _checked(job_id: str) -> str:
    if not JOB_ID.fullmatch(job_id):
        raise UploadError(404, "not_found", "There is no video job with that id.")
    return job_id


def _public(job: dict) -> dict:
    """The service's job with its addresses here instead of the service's."""
    job_id = job.get("id")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise ModelServiceError("The colorization service answered a video job without a valid id.")
    public = {**job, "url": url_for("videos.status", job_id=job_id)}
    if job.get("result_url"):
        public["result_url"] = url_for("videos.result", job_id=job_id)
    else:
        public.pop("result_url", None)
    return public
