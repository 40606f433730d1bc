"""The video job API: POST /v1/videos, GET and DELETE /v1/videos/<id>, GET /v1/videos/<id>/result."""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file

from colorize.video import VideoInfo, VideoLimits, probe
from model_service.api import predictor_for, render_size_for, vividness_for
from model_service.errors import ApiError, error_response
from model_service.videos.store import FINISHED, INPUT_FILE, RESULT_FILE, JobStore
from model_service.videos.upload import receive_multipart, receive_raw, result_name

bp = Blueprint("videos", __name__)

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_HOW_TO_SEND = "send the video as the request body, or as the file field 'video' of a multipart/form-data form"


def _store() -> JobStore:
    return current_app.extensions["model_service.videos"].store


def _limits() -> VideoLimits:
    return current_app.extensions["model_service.videos"].limits


def _stabilize(raw: str | None) -> bool:
    if raw is None or raw == "":
        return True
    if raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    raise ApiError(400, "invalid_stabilize", f"stabilize must be true or false, got {raw!r}")


def _options(form: dict[str, str]) -> dict[str, Any]:
    """model, render_size, stabilize and vividness: query parameters, else form fields; ApiError if bad."""

    def param(name: str) -> str | None:
        value = request.args.get(name)
        return form.get(name) if value is None else value

    predictor = predictor_for(param)
    return {"model": predictor.name, "render_size": render_size_for(predictor, param),
            "stabilize": _stabilize(param("stabilize")), "vividness": vividness_for(predictor, param)}


def _video(info: VideoInfo) -> dict[str, Any]:
    return {"width": info.width, "height": info.height, "duration_s": round(info.duration_s, 3),
            "fps": round(float(info.rate), 3) if info.rate else None, "audio": info.audio_codec}


def _time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _urls(job_id: str) -> tuple[str, str]:
    return f"/v1/videos/{job_id}", f"/v1/videos/{job_id}/result"


def _not_found(job_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no video job has the id {job_id[:64]!r} (finished jobs are deleted "
                                      f"{current_app.config['VIDEO_RESULT_TTL_S']:g} s after they end)")


def _job(job_id: str) -> dict[str, Any]:
    """The job, as a client may see it (a running job a DELETE stopped is gone already); 404 if none."""
    job = _store().read(job_id)
    if job is None or job.get("cancel"):
        raise _not_found(job_id)
    return job


@bp.post("/v1/videos")
def submit() -> tuple[Response, int, dict[str, str]]:
    limit = current_app.config["VIDEO_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "video_too_large", f"the upload is {request.content_length:,} bytes; at most "
                                               f"{limit:,} are taken (VIDEO_MAX_BYTES)")
    multipart = request.mimetype == "multipart/form-data"
    options = None if multipart else _options({})  # a bad option is answered before the body is read
    store = _store()
    store.check_room()  # before a long upload; again, under the lock, once it is in
    request.max_content_length = limit + 1  # this route's bound is VIDEO_MAX_BYTES, never MAX_UPLOAD_BYTES
    job_id, folder = store.new_folder()
    try:
        filename = None
        if multipart:
            path, filename, form = receive_multipart(request.stream, request.mimetype_params.get("boundary"),
                                                     folder, limit, request.content_length)
            options = _options(form)
        else:
            path = folder / INPUT_FILE
            if receive_raw(request.stream, path, limit) == 0:
                raise ApiError(400, "missing_video", f"no video: {_HOW_TO_SEND}")
        info = probe(path, _limits())
        now = time.time()
        job = {"id": job_id, "state": "queued", "created_at": now, "updated_at": now, "attempts": 0,
               "frames_done": 0, "frames_total": info.frames, "fps": 0.0, "eta_s": None, "cuts": None,
               "options": options, "video": _video(info), "filename": filename}
        store.submit(job)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # nothing of a refused upload stays
        raise
    url, result_url = _urls(job_id)
    body = {"id": job_id, "state": "queued", "url": url, "result_url": result_url, "frames_total": info.frames,
            "video": job["video"]}
    return jsonify(body), 202, {"Location": url}


@bp.get("/v1/videos/<job_id>")
def status(job_id: str) -> Response:
    job = _job(job_id)
    state = job["state"]
    # .get throughout: a job.json of an older release still answers (never a 500 here)
    body = {"id": job_id, "state": state, "frames_done": job.get("frames_done", 0),
            "frames_total": job.get("frames_total", 0), "eta_s": job.get("eta_s"), "fps": job.get("fps", 0.0),
            "video": job.get("video", {}), "created_at": _time(job.get("created_at")),
            "updated_at": _time(job.get("updated_at")), "attempts": job.get("attempts", 0), "cuts": job.get("cuts")}
    if state == "failed":
        body["error"] = job.get("error") or {"code": "failed", "message": "the job failed"}
    if state in FINISHED:
        body["expires_at"] = _time(job.get("expires_at"))
    if state == "done":
        body["result_url"] = _urls(job_id)[1]
        body["audio"] = job.get("audio", "none")
    return jsonify(body)


@bp.get("/v1/videos/<job_id>/result")
def result(job_id: str) -> Response:
    job = _job(job_id)
    if job["state"] != "done":
        reason = f": {(job.get('error') or {}).get('message')}" if job["state"] == "failed" else ""
        return error_response(409, "not_done", f"the video is {job['state']}, so it has no result yet{reason}",
                              state=job["state"])
    try:
        return send_file(_store().folder(job_id) / RESULT_FILE, mimetype="video/mp4", conditional=True,
                         download_name=result_name(job.get("filename"), job_id), max_age=0)
    except FileNotFoundError:  # deleted (expired, or a DELETE) since job.json was read
        raise _not_found(job_id) from None


@bp.delete("/v1/videos/<job_id>")
def delete(job_id: str) -> tuple[str, int]:
    if _store().cancel(job_id) is None:
        raise _not_found(job_id)
    return "", 204
