"""The pages: the upload page, its no-JavaScript result page, and the about/API page."""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from middleware.client import (
    ModelServiceError,
    ModelServiceTimeout,
    ModelServiceUnavailable,
    current_client,
)
from middleware.model_card import model_cards, model_choices, model_entries
from middleware.uploads import (
    RENDER_SIZES,
    UploadError,
    download_name,
    extension_for,
    parse_model,
    parse_options,
    read_upload,
)

bp = Blueprint("views", __name__)


def _page_context() -> dict:
    """The upload form's settings, and its choice of model: the service's models (none when it cannot say,
    then the form sends none and the service's default applies), the one sent last or else the default."""
    try:
        info = current_client().models()
        models, default_model = model_choices(info)
        hint_models = [str(e["name"]) for e in model_entries(info) if e.get("hints") is True and e.get("name")]
        vivid_models = {str(e["name"]): float(e["vividness"]) for e in model_entries(info)
                        if isinstance(e.get("vividness"), (int, float)) and e.get("name")}
    except ModelServiceError:
        models, default_model, hint_models, vivid_models = [], None, [], {}
    chosen = request.form.get("model")
    return {"render_sizes": RENDER_SIZES, "max_bytes": current_app.config["MAX_CONTENT_LENGTH"],
            "max_video_bytes": current_app.config["MAX_VIDEO_BYTES"],
            "max_files": current_app.config["MAX_FILES_PER_FORM"], "models": models,
            "hint_models": hint_models, "vividness_models": vivid_models, "default_model": default_model,
            "chosen_model": chosen if chosen in models else default_model}


@bp.get("/")
def index() -> str:
    return render_template("index.html", **_page_context())


@bp.post("/colorize")
def colorize() -> tuple[str, int]:
    """The form without JavaScript: colorize each file, answer a page with both images embedded."""
    files = [f for f in request.files.getlist("image") if f.filename]
    limit = current_app.config["MAX_FILES_PER_FORM"]
    files, skipped = files[:limit], files[limit:]
    results, failures = [], []
    try:
        render_size, output_format = parse_options(request.form)
        model = parse_model(request.form)
        if not files:
            raise UploadError(400, "missing_image", "No image was uploaded. Choose a photo and try again.")
    except UploadError as exc:
        return render_template("index.html", error=exc.message, **_page_context()), exc.status
    for file in files:
        try:
            if failures and isinstance(failures[-1], (ModelServiceUnavailable, ModelServiceTimeout)):
                raise failures[-1]  # the next files would wait for the same answer
            upload = read_upload(file)
            result = current_client().colorize(upload.data, upload.content_type, render_size, output_format,
                                               model)
        except (UploadError, ModelServiceError) as exc:
            failures.append(exc)
            results.append({"name": file.filename, "error": exc.message})
            continue
        results.append({
            "name": upload.filename,
            "original": _data_uri(upload.data, upload.content_type),
            "colorized": _data_uri(result.data, result.content_type),
            "download_name": download_name(upload.filename, extension_for(result.content_type)),
            "model_version": result.model_version,
            "model_name": result.model_name,
        })
    results += [{"name": file.filename, "error": f"Not colorized: at most {limit} photos are colorized per "
                                                 "upload. Please send this one again."} for file in skipped]
    if len(failures) == len(results):
        status = failures[0].status
        return render_template("index.html", error=failures[0].message, **_page_context()), status
    return render_template("result.html", results=results), 200


@bp.errorhandler(RequestEntityTooLarge)
def form_too_large(exc: RequestEntityTooLarge) -> tuple[str, int, dict]:
    """The form's 413 names the limit it hit: a body within MAX_CONTENT_LENGTH was refused for its number of
    parts (MAX_FORM_PARTS), as a folder of many small photos is; else for its bytes, all files together."""
    max_bytes = current_app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is not None and max_bytes and length <= max_bytes:
        title = "Too many files at once"
        message = (f"Without JavaScript, up to {current_app.config['MAX_FILES_PER_FORM']} photos are colorized per "
                   "upload: choose fewer. With JavaScript on, this page takes whole folders and sends the photos "
                   "one by one.")
    else:
        title = "That upload is too large"
        start = f"It is {length / 1e6:.1f} MB; up" if length else "Up"
        message = (f"{start} to {max_bytes / 1e6:g} MB are accepted at once, all its photos together. "
                   "Choose fewer or smaller photos.")
    page = render_template("error.html", status=413, title=title, message=message)
    return page, 413, {"Cache-Control": "no-store"}


@bp.get("/about")
def about() -> str:
    """How to call the API, and the cards of the models that are serving right now."""
    cards, error = [], None
    try:
        cards = model_cards(current_client().model_info())
    except ModelServiceError as exc:
        error = exc.message
    root = request.url_root.rstrip("/")
    return render_template("about.html", cards=cards, error=error, api_url=root + url_for("api.colorize"),
                           videos_url=root + url_for("videos.submit"))


def _data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
