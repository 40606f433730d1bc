"""The video routes' part of the OpenAPI document (model_service/openapi.py joins it), with this instance's limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model_service.videos.store import ID_PATTERN

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_BINARY = {"type": "string", "format": "binary"}


def _error(description: str, codes: list[str], retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": f"{description} Error codes: {', '.join(codes)}.", "content": _ERROR}
    if retry_after:
        response["headers"] = {"Retry-After": {"description": "seconds to wait before retrying",
                                               "schema": {"type": "integer"}}}
    return response


def _json(description: str, ref: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}
    if headers:
        response["headers"] = headers
    return response


_NOT_FOUND = _error("No job has this id (finished jobs are deleted VIDEO_RESULT_TTL_S after they end; a DELETE "
                    "removes one at once).", ["not_found"])
_ID = {"name": "job_id", "in": "path", "required": True,
       "schema": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"},
       "description": "the job's id, as POST /v1/videos answered it (32 hexadecimal digits)"}


def _video_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["width", "height", "duration_s", "fps", "audio"], "properties": {
        "width": {"type": "integer"}, "height": {"type": "integer"},
        "duration_s": {"type": "number"}, "fps": {"type": ["number", "null"], "description": "the input's rate"},
        "audio": {"type": ["string", "null"], "description": "the input's audio codec; null: no audio"}}}


def schemas() -> dict[str, Any]:
    """VideoJob (GET /v1/videos/{job_id}) and VideoAccepted (POST /v1/videos)."""
    when = {"type": "string", "format": "date-time"}
    job = {"type": "object", "required": ["id", "state", "frames_done", "frames_total", "eta_s", "fps", "video",
                                          "created_at", "updated_at", "attempts", "cuts"], "properties": {
        "id": {"type": "string"},
        "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "frames_done": {"type": "integer"},
        "frames_total": {"type": "integer", "description": "from the header while it runs (0: unknown); the real "
                                                           "count once done"},
        "eta_s": {"type": ["number", "null"], "description": "seconds left, at the speed so far; null: unknown"},
        "fps": {"type": "number", "description": "frames coloured a second so far"},
        "video": {"$ref": "#/components/schemas/VideoInfo"},
        "created_at": when, "updated_at": when,
        "expires_at": {**when, "description": "done and failed only: when the job and its result are deleted"},
        "attempts": {"type": "integer", "description": "times it was started (a job whose worker died is run "
                                                      "again from the start)"},
        "cuts": {"type": ["integer", "null"], "description": "scene cuts found (the colour started afresh); null "
                                                             "until done"},
        "error": {"type": "object", "required": ["code", "message"], "description": "failed only: why",
                  "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
        "result_url": {"type": "string", "description": "done only"},
        "audio": {"type": "string", "enum": ["copied", "encoded", "none"],
                  "description": "done only: the input's audio copied, encoded to AAC, or none"}}}
    accepted = {"type": "object", "required": ["id", "state", "url", "result_url", "frames_total", "video"],
                "properties": {"id": {"type": "string"}, "state": {"type": "string", "const": "queued"},
                               "url": {"type": "string"}, "result_url": {"type": "string"},
                               "frames_total": {"type": "integer"},
                               "video": {"$ref": "#/components/schemas/VideoInfo"}}}
    return {"VideoJob": job, "VideoAccepted": accepted, "VideoInfo": _video_schema()}


def paths(config: Mapping[str, Any], model: dict[str, Any], render_size: dict[str, Any],
          vividness: dict[str, Any]) -> dict[str, Any]:
    """The four video operations; ``model``, ``render_size``, ``vividness``: the photo route's parameter schemas."""
    limits = (f"at most {config['VIDEO_MAX_BYTES']:,} bytes, {config['VIDEO_MAX_PIXELS']:,} pixels a frame, "
              f"{config['VIDEO_MAX_DURATION_S']:,.0f} s and {config['VIDEO_MAX_FRAMES']:,} frames")
    stabilize = {"type": "boolean", "default": True,
                 "description": "carry the colour along the motion from frame to frame (no flicker); false: each "
                                "frame coloured on its own"}
    options = {"model": model, "render_size": render_size, "stabilize": stabilize, "vividness": vividness}
    submit = {
        "summary": "Colour a black-and-white video (a job)",
        "description": (
            "Send the video as the raw body (any Content-Type but multipart) or as the multipart/form-data file "
            "field `video`; it is streamed to disk and checked (MP4, MOV, MKV, WebM or AVI with a video stream "
            f"FFmpeg decodes; {limits}), then queued. Poll the job's `url`; once it is done, `result_url` answers "
            "an H.264 MP4 with the input's size, frames, timestamps, rotation and audio."),
        "parameters": [{"name": name, "in": "query", "schema": schema} for name, schema in options.items()],
        "requestBody": {"required": True, "content": {
            "video/*": {"schema": _BINARY}, "application/octet-stream": {"schema": _BINARY},
            "multipart/form-data": {"schema": {"type": "object", "required": ["video"],
                                               "properties": {"video": _BINARY, **options},
                                               "description": "query parameters take precedence"}}}},
        "responses": {
            "202": _json("queued", "VideoAccepted", {"Location": {"schema": {"type": "string"},
                                                                  "description": "the job's url"}}),
            "400": _error("No video, more than one, a multipart body that cannot be parsed, or a bad parameter.",
                          ["missing_video", "too_many_videos", "invalid_multipart", "invalid_render_size",
                           "unknown_model", "invalid_vividness", "vividness_unsupported", "invalid_stabilize"]),
            "413": _error(f"Over a limit ({limits}); the message says which.",
                          ["video_too_large", "payload_too_large"]),
            "415": _error("Not a video (a photo, a text, another format).", ["not_a_video"]),
            "422": _error("A video that cannot be read (truncated, damaged, no frame size) or has no video stream.",
                          ["unreadable_video", "no_video_stream"]),
            "503": _error(f"{config['VIDEO_MAX_QUEUED']} jobs are waiting already, or the jobs folder is full.",
                          ["busy"], retry_after=True),
        },
    }
    status = {"summary": "A video job's state and progress", "parameters": [_ID], "responses": {
        "200": _json("the job", "VideoJob"), "404": _NOT_FOUND}}
    delete = {"summary": "Cancel a job (a running one stops at its next batch) or delete a finished one",
              "parameters": [_ID], "responses": {"204": {"description": "deleted"}, "404": _NOT_FOUND}}
    mp4 = {"video/mp4": {"schema": _BINARY}}
    result = {
        "summary": "The coloured MP4 (Range requests, so a player can seek)",
        "parameters": [_ID],
        "responses": {
            "200": {"description": "the video", "content": mp4, "headers": {
                "Content-Disposition": {"schema": {"type": "string"}, "description": "inline, with a file name"},
                "Accept-Ranges": {"schema": {"type": "string"}}}},
            "206": {"description": "the range asked for", "content": mp4},
            "404": _NOT_FOUND,
            "409": _error("The job is not done (queued, running or failed: `state` says which).", ["not_done"]),
            "416": _error("The range asked for is outside the file.", ["requested_range_not_satisfiable"]),
        },
    }
    return {"/v1/videos": {"post": submit}, "/v1/videos/{job_id}": {"get": status, "delete": delete},
            "/v1/videos/{job_id}/result": {"get": result}}
