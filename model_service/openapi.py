"""The OpenAPI 3.1 document served at GET /openapi.json, with the limits this instance really applies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from colorize import __version__
from colorize.photoio import MAX_PAGES
from model_service.config import RENDER_SIZE_MAX, RENDER_SIZE_MIN
from model_service.decode import ALLOWED_FORMATS
from model_service.videos import spec as video_spec


def _error(description: str, codes: list[str], retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{description} Error codes: {', '.join(codes)}.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": {"description": "seconds to wait before retrying",
                                               "schema": {"type": "integer"}}}
    return response


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document(config: Mapping[str, Any], model_names: list[str], default_model: str,
             default_render_size: int) -> dict[str, Any]:
    """The API description; limits and model names come from this instance, so it says what it enforces."""
    max_bytes, max_pixels = config["MAX_UPLOAD_BYTES"], config["MAX_PIXELS"]
    render_size = {"type": "integer", "minimum": RENDER_SIZE_MIN, "maximum": RENDER_SIZE_MAX,
                   "default": default_render_size,
                   "description": "short side, in pixels, at which the network runs; the colour it predicts "
                                  "is up-sampled onto the input's full-resolution lightness. Default: the "
                                  "model's own (this is the default model's)"}
    model = {"type": "string", "enum": model_names, "default": default_model,
             "description": "the model to colorize with (GET /v1/models lists them); default: "
                            f"{default_model}. An unknown name is a 400 unknown_model listing the names"}
    fmt = {"type": "string", "enum": ["auto", "png", "jpeg", "jpg", "webp", "tiff", "tif"], "default": "auto",
           "description": "output format: auto (the default) answers a JPEG upload as JPEG, a WebP as WebP, a "
                          "TIFF as TIFF and anything else as PNG; 'jpg' = 'jpeg', 'tif' = 'tiff'; JPEG drops "
                          "an alpha channel. A 16-bit photo is answered in 16 bits in PNG and TIFF"}
    hints = {"type": "string", "contentMediaType": "application/json",
             "description": "colour hints, for a model that takes them (GET /v1/models: \"hints\": true): a JSON "
                            "list of at most 64 {\"x\": ..., \"y\": ..., \"color\": \"#rrggbb\"}, x and y in "
                            "the photo's own pixels (after EXIF orientation) from its top left, e.g. "
                            "[{\"x\": 120, \"y\": 340, \"color\": \"#3355aa\"}]. A bad hint is a 400 "
                            "invalid_hints that says which (from 0) and why; hints for a model that takes "
                            "none, a 400 hints_unsupported"}
    vividness = {"type": "number", "minimum": 0, "maximum": 1,
                 "description": "for a model with a colour distribution (GET /v1/models: \"vividness\" is a "
                                "number, its default): 0 answers the distribution's mean (T = 1), 1 its most "
                                "vivid (T = 0.2), 0.6 Zhang et al.'s T = 0.38. Outside [0, 1] or not a number: "
                                "a 400 invalid_vividness; for a model without a distribution, a 400 "
                                "vividness_unsupported. With hints the hint decoder answers and vividness does "
                                "not change it"}
    not_ready = _error("The model is not ready (warming up) or every inference slot is taken and the "
                       "queue is full or the wait timed out.", ["not_ready", "busy"], retry_after=True)
    accepted = ", ".join(ALLOWED_FORMATS)
    colorize_op = {
        "summary": "Colorize a photo",
        "description": (
            "Send the image as the raw body (Content-Type image/*, or application/octet-stream) or as the "
            f"multipart/form-data file field `image`. Accepted formats (sniffed from the bytes, whatever the "
            f"Content-Type says): {accepted}. Animated images: the first frame; a multi-page TIFF: its first "
            "page (X-Source-Pages). TIFF: 8- or 16-bit grey or RGB, uncompressed, LZW, Deflate, PackBits or "
            "JPEG. EXIF orientation is applied (and reset in the answer's EXIF); the ICC profile, DPI and EXIF "
            "are carried into the answer where its format holds them. The answer has the input's resolution "
            "(after EXIF orientation) and lightness, at 16 bits for a 16-bit photo answered as PNG or TIFF; an "
            "alpha channel is kept (except in JPEG)."
        ),
        "parameters": [
            {"name": "render_size", "in": "query", "schema": render_size},
            {"name": "format", "in": "query", "schema": fmt},
            {"name": "model", "in": "query", "schema": model},
            {"name": "hints", "in": "query", "schema": hints},
            {"name": "vividness", "in": "query", "schema": vividness},
        ],
        "requestBody": {"required": True, "content": {
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["image"],
                "properties": {"image": {"type": "string", "format": "binary"},
                               "render_size": render_size, "format": fmt, "model": model,
                               "hints": hints, "vividness": vividness},
                "description": "query parameters take precedence over these form fields"}},
        }},
        "responses": {
            "200": {
                "description": "the colorized image",
                "headers": {
                    "X-Model-Name": {"schema": {"type": "string"}, "description": "the model that colorized it"},
                    "X-Model-Version": {"schema": {"type": "string"},
                                        "description": "the checkpoint's version, else its sha256 prefix"},
                    "X-Inference-Time-Ms": {"schema": {"type": "number"},
                                            "description": "time in colorize: pre-processing, network, "
                                                           "post-processing (not queue, decode or encode)"},
                    "X-Bit-Depth": {"schema": {"type": "integer", "enum": [8, 16]},
                                    "description": "bits per channel of the answer"},
                    "X-Source-Pages": {"schema": {"type": "integer"},
                                       "description": "a multi-page TIFF only: its number of pages"},
                    "X-Page": {"schema": {"type": "integer"},
                               "description": "a multi-page TIFF only: the page colorized (1, the first)"},
                    "X-Hints": {"schema": {"type": "integer"},
                                "description": "with hints only: how many were used"},
                    "X-Vividness": {"schema": {"type": "number"},
                                    "description": "a model with a colour distribution only: the vividness "
                                                   "it answered with"},
                    "Server-Timing": {"schema": {"type": "string"},
                                      "description": "ms in queue, decode, preprocess, network, "
                                                     "spread (with hints), postprocess, encode"},
                },
                "content": {t: {"schema": {"type": "string", "format": "binary"}}
                            for t in ("image/png", "image/jpeg", "image/webp", "image/tiff")},
            },
            "400": _error("No image, more than one, an empty or corrupt image (a known format whose data is "
                          "broken or truncated), or a bad parameter.",
                          ["missing_image", "too_many_images", "empty_image", "corrupt_image",
                           "invalid_render_size", "invalid_format", "unknown_model", "invalid_hints",
                           "hints_unsupported", "invalid_vividness", "vividness_unsupported"]),
            "413": _error(f"The request body is larger than {max_bytes} bytes.", ["payload_too_large"]),
            "415": _error("The Content-Type is not image/*, application/octet-stream or multipart/form-data, "
                          f"or the bytes are not an image in an accepted format ({accepted}), or a TIFF "
                          "compression or bit depth (1-bit, 32-bit, floating point) that is not read.",
                          ["unsupported_media_type", "unsupported_format", "unsupported_compression",
                           "unsupported_bit_depth"]),
            "422": _error(f"The image declares more than {max_pixels} pixels (checked from its header; "
                          "decompression bombs are never decoded), a TIFF has more than "
                          f"{MAX_PAGES} pages, its ICC profile cannot be read, or it is too long a side for the "
                          "answer's format (WebP 16,383 pixels, JPEG 65,500).",
                          ["too_many_pixels", "too_many_pages", "corrupt_icc_profile", "too_large_for_format"]),
            "503": not_ready,
        },
    }
    models_schema = {"type": "object", "required": ["models", "default", "service_version"], "properties": {
        "models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
        "default": {"type": "string", "enum": model_names,
                    "description": "the model a request that names none gets"},
        "service_version": {"type": "string", "const": __version__,
                            "description": "this service's release (the colorize package's version, also "
                                           "info.version here)"}}}
    text = {"text/plain": {"schema": {"type": "string"}}}
    paths = {
        "/v1/colorize": {"post": colorize_op},
        "/v1/models": {"get": {
            "summary": "The served models: name, version, architecture, training data, metrics, how this "
                       "worker runs each, and which is the default; and this service's release",
            "responses": {"200": _json("the models", models_schema)}}},
        "/healthz": {"get": {"summary": "Liveness: the process answers",
                             "responses": {"200": _json("alive", {"type": "object"})}}},
        "/readyz": {"get": {
            "summary": "Readiness: every model is loaded and its warm-up inference done (`models`: each "
                       "one's state)",
            "responses": {"200": _json("ready", {"type": "object"}),
                          "503": _error("Not ready yet, or the warm-up failed.", ["not_ready"],
                                        retry_after=True)}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (text exposition format); under gunicorn, all workers summed",
            "responses": {"200": {"description": "metrics", "content": text}}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})}}},
        **video_spec.paths(config, model, render_size, vividness),
    }
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "models": {"type": ["array", "object"],
                                      "description": "unknown_model: the valid names; not_ready: each "
                                                     "model's state"},
                           "state": {"type": "string", "description": "not_done: the video job's state"}}}}},
        "Model": {"type": "object", "required": ["name", "version", "architecture", "default"], "properties": {
            "name": {"type": "string"}, "version": {"type": "string"}, "default": {"type": "boolean"},
            "hints": {"type": "boolean", "description": "whether it takes colour hints"},
            "vividness": {"type": ["number", "null"],
                          "description": "a model with a colour distribution: the vividness it answers with by "
                                         "default (it takes the vividness parameter); null: it has none"},
            "architecture": {"type": "object"},
            "training": {"type": "object"}, "metrics": {"type": "object"}, "metadata": {"type": "object"},
            "serving": {"type": "object"}}},
        **video_spec.schemas(),
    }
    info = {"title": "colorize model service", "version": __version__,
            "description": f"Colorization of black-and-white photos and videos; models: {', '.join(model_names)} "
                           f"(default: {default_model})."}
    return {"openapi": "3.1.0", "info": info, "paths": paths, "components": {"schemas": schemas}}
