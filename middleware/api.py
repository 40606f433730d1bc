"""The JSON/binary API: ``POST /api/colorize`` for curl and the page's script, model metadata, probes."""

from __future__ import annotations

import io

from flask import Blueprint, Response, jsonify, request
from werkzeug.datastructures import FileStorage

from middleware import __version__
from middleware.client import RETRY_AFTER, current_client
from middleware.errors import error_response
from middleware.uploads import (
    Upload,
    UploadError,
    content_disposition,
    extension_for,
    parse_hints,
    parse_model,
    parse_options,
    parse_vividness,
    read_upload,
)

bp = Blueprint("api", __name__)
RAW_MEDIA_TYPES = ("image/", "application/octet-stream")  # the body is the image itself


@bp.post("/api/colorize")
def colorize() -> Response:
    """Multipart field ``image`` (one file), or the image as the body; answers the colorized image as a download.

    ``model`` (form field or query parameter) picks one of the model service's models; an unknown name is the
    service's 400, passed on with the list of names. ``hints``: a JSON list of {"x", "y", "color": "#rrggbb"}
    in the photo's own pixels, for a model that takes colour hints. ``vividness``: 0 ... 1, for a model with a
    colour distribution."""
    if request.mimetype.startswith(RAW_MEDIA_TYPES):
        upload = _raw_upload()
        options = request.args
    elif request.mimetype == "multipart/form-data" or not request.content_length:
        upload = read_upload(_one_file())
        options = request.values
    else:
        raise UploadError(415, "unsupported_media_type",
                          f"Content-Type {request.mimetype!r} cannot carry an image: send a multipart/form-data "
                          "form with the file field 'image', or the image itself as the body (image/*).")
    render_size, output_format = parse_options(options)
    result = current_client().colorize(upload.data, upload.content_type, render_size, output_format,
                                       parse_model(options), stream=True, hints=parse_hints(options),
                                       vividness=parse_vividness(options))
    response = Response(result.chunks, mimetype=result.content_type)
    if result.length:
        response.headers["Content-Length"] = result.length
    response.headers["Content-Disposition"] = content_disposition(
        upload.filename, extension_for(result.content_type))
    response.headers["Cache-Control"] = "no-store"
    for header, value in (("X-Model-Name", result.model_name), ("X-Model-Version", result.model_version),
                          ("X-Inference-Time-Ms", result.inference_ms), *result.details):
        if value:
            response.headers[header] = value
    return response


@bp.get("/api/model")
def model() -> Response:
    """The model service's ``GET /v1/models``: ``models``, every model's metadata (name, version, architecture,
    training data, metrics, ``default``: true or false), ``default``, the name a request without ``model``
    gets, and ``service_version``, the model service's release; with ``web_version``, this app's release."""
    return jsonify({**current_client().model_info(), "web_version": __version__})


@bp.get("/healthz")
def healthz() -> Response:
    """This process is alive (says nothing about the model service)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """Ready only when the model service is: a load balancer should not send work before then."""
    if current_client().is_ready():
        return jsonify(status="ready")
    return error_response(503, "model_service_unavailable",
                          "The colorization service is not ready.", retry_after=RETRY_AFTER)


def _one_file() -> FileStorage | None:
    files = request.files.getlist("image")
    if len(files) > 1:
        raise UploadError(400, "too_many_images",
                          f"The field 'image' holds {len(files)} files: send one image per request.")
    return files[0] if files else None


def _raw_upload() -> Upload:
    """``curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg'``: the body is the image."""
    name = request.args.get("filename") or "image"
    return read_upload(FileStorage(io.BytesIO(request.get_data(cache=False)), filename=name))
