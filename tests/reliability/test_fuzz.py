"""Fuzzing every decoder and parser a request reaches (Hypothesis; strategies.py, form_strategies.py).

The property: each parser raises only its documented exception (decode.DecodeError, HintError, UploadError),
and both apps (their Flask test clients, tiny random-weight models, so a case takes milliseconds) answer every
request with a 2xx image or a 4xx with docs/limits.md's JSON error, never a 5xx. Bounded in ``make test``
(derandomized: the same cases every run); ``python -m scripts.fuzz --minutes 10`` runs them longer on fresh
cases (fuzzing.py). Every input that ever found a crash or a 5xx is a file in fuzz_cases/, replayed by
test_every_input_that_once_failed_is_answered: ``*.bin`` an upload, ``*.txt`` a hints field, ``*.json`` a
whole request (fuzzing.Sent).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from colorize import photoio
from colorize.checkpoint import save_model
from colorize.hints import HintError, parse_hints
from colorize.models import with_hints
from middleware import create_app as create_web_app
from middleware import uploads
from model_service import create_app as create_service_app
from model_service.api import MAX_SIDE
from model_service.decode import DecodeError, load_photo, open_image, sniff_format
from tests.conftest import random_colour_model
from tests.middleware.fakes import serve
from tests.reliability import fuzzing
from tests.reliability.form_strategies import hints_texts, multipart_bodies, parameters, sent_requests
from tests.reliability.fuzzing import Sent, check_answer, fuzz
from tests.reliability.strategies import (
    SIDES,
    damaged_photos,
    exif_photos,
    icc_photos,
    photos,
    pillow_photo,
    tiffs,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's warnings on damaged tags and EXIF
CASES = Path(__file__).parent / "fuzz_cases"
MAX_PIXELS = 250_000  # small, so what a damaged header declares stays cheap to decode
PHOTO = pillow_photo("PNG", "L", 33, 16, 0)
UPLOADS = st.one_of(photos(), damaged_photos(), icc_photos(), exif_photos())


@pytest.fixture(scope="module")
def service(tiny_checkpoint, vivid_checkpoint, tmp_path_factory):
    """The model service with a plain model (the default), one that takes vividness and one that takes hints."""
    path = tmp_path_factory.mktemp("ckpt") / "hints.safetensors"
    save_model(with_hints(random_colour_model()), path, {"model_name": "tiny-hints"}, dtype=torch.float16)
    app = create_service_app({"MODEL_CHECKPOINTS": f"{tiny_checkpoint},{vivid_checkpoint},{path}",
                              "DEFAULT_RENDER_SIZE": 64, "MAX_PIXELS": MAX_PIXELS, "WARMUP": False})
    app.extensions["model_service"].warm_up()
    return app


@pytest.fixture(scope="module")
def clients(service):
    """(model service, web app) test clients; the web app talks to the model service over HTTP."""
    with serve(service) as url:
        web = create_web_app({"SECRET_KEY": "fuzz", "MODEL_SERVICE_URL": url, "CSRF_ENABLED": False})
        yield service.test_client(), web.test_client()


def decodes_or_refuses(data: bytes) -> None:
    """As the service reads an upload and writes its answer in each format that holds its size, with the
    photo's metadata: nothing raised but a DecodeError."""
    try:
        pixels, meta = load_photo(open_image(data, MAX_PIXELS), data)
    except DecodeError:
        return
    if isinstance(pixels, Image.Image):
        assert pixels.width * pixels.height <= MAX_PIXELS
        pixels = pixels.convert("RGBA" if "A" in pixels.mode else "RGB")  # as colorize answers it
    longest = max(pixels.size if isinstance(pixels, Image.Image) else pixels.shape[:2])
    for fmt in photoio.FORMATS:
        if longest <= MAX_SIDE.get(fmt, longest):  # else the service refuses it before colouring (422)
            photoio.encode(pixels, fmt, meta)


def answered_by_both(clients, sent: Sent) -> None:
    service, web = clients
    check_answer(sent.post(service, "/v1/colorize"))
    check_answer(sent.post(web, "/api/colorize"))
    check_answer(sent.post(web, "/colorize"), html=True)  # the form without JavaScript


def hints_refused_cleanly(text: str) -> None:
    """The service's parser raises only HintError; the web app's only its 400, and what it passes on is
    JSON the service's parser reads."""
    try:
        parse_hints(text, 33, 16)
    except HintError:
        pass
    try:
        passed = uploads.parse_hints(MultiDict({"hints": text}))
    except uploads.UploadError as exc:
        assert (exc.status, exc.code) == (400, "invalid_hints")
        return
    try:
        parse_hints(passed, 33, 16)
    except HintError:
        pass


def options_refused_cleanly(values: dict[str, str]) -> None:
    form = MultiDict(values)
    for parse in (uploads.parse_options, uploads.parse_model, uploads.parse_vividness, uploads.parse_hints):
        try:
            parse(form)
        except uploads.UploadError as exc:
            assert exc.status == 400 and exc.code.startswith("invalid_")


def sniffers_agree(data: bytes) -> None:
    """Neither sniffer raises, and the web app sends on every photo whose header the model service reads."""
    web_sends = uploads.sniff_image_type(data)
    try:
        open_image(data, MAX_PIXELS)
    except DecodeError:
        return
    assert web_sends is not None


# AVIF files whose ftyp box names other major and compatible brands (HEIF's generic mif1, HEIC's heic...)
BRANDS = st.sampled_from([b"avif", b"avis", b"mif1", b"msf1", b"heic", b"isom", b"miaf"])
FTYP = st.builds(lambda major, compatible, data: data[:8] + major + data[12:16] + compatible + data[24:],
                 BRANDS, st.lists(BRANDS, min_size=2, max_size=2).map(b"".join),
                 st.builds(pillow_photo, st.just("AVIF"), st.just("RGB"), SIDES, SIDES, st.just(0)))


TARGETS = [
    ("sniffers", st.binary(max_size=40) | FTYP | photos() | damaged_photos(), sniffers_agree, 800),
    ("image decoders", damaged_photos(), decodes_or_refuses, 1500),
    ("tiff directories and tags", tiffs() | damaged_photos(tiffs()), decodes_or_refuses, 1000),
    ("icc profiles", icc_photos(), decodes_or_refuses, 600),
    ("exif", exif_photos(), decodes_or_refuses, 600),
    ("hints json", hints_texts(), hints_refused_cleanly, 800),
    ("web app options", parameters(), options_refused_cleanly, 800),
]


@pytest.mark.parametrize("target, strategy, check, examples", [pytest.param(*t, id=t[0]) for t in TARGETS])
def test_parsers_raise_only_their_documented_errors(target, strategy, check, examples):
    fuzz(target, strategy, check, examples)


def test_the_model_service_answers_every_request_with_an_image_or_a_4xx(clients):
    fuzz("model service requests", sent_requests(UPLOADS), lambda sent: check_answer(
        sent.post(clients[0], "/v1/colorize")), 800)


def test_the_web_app_answers_every_request_with_an_image_or_a_4xx(clients):
    def check(sent: Sent) -> None:
        check_answer(sent.post(clients[1], "/api/colorize"))
        check_answer(sent.post(clients[1], "/colorize"), html=True)

    fuzz("web app requests", sent_requests(UPLOADS), check, 500)


def test_malformed_multipart_forms_are_4xx_in_both_apps(clients):
    bodies = st.sampled_from([PHOTO, b"", b"\xff\xd8\xff"]).flatmap(multipart_bodies)
    fuzz("malformed multipart", bodies.map(lambda form: Sent({}, *form)), lambda sent: answered_by_both(clients, sent),
         400)


@pytest.mark.skipif(not fuzzing.SECONDS, reason="bounded runs: test_openapi.py (the live service, 30 per operation)")
def test_the_model_service_keeps_to_its_openapi_document_for_longer(service):
    schemathesis = pytest.importorskip("schemathesis")
    from tests.reliability.test_openapi import CHECKS, OPERATIONS

    document = schemathesis.openapi.from_wsgi("/openapi.json", service)
    mode = schemathesis.GenerationMode
    operations = st.sampled_from([(m, p, mode.POSITIVE) for m, p in OPERATIONS] + [("POST", "/v1/colorize",
                                                                                     mode.NEGATIVE)])
    cases = operations.flatmap(lambda op: document[op[1]][op[0]].as_strategy(generation_mode=op[2]))
    fuzz("openapi (schemathesis)", cases, lambda case: case.call_and_validate(checks=CHECKS), 100)


def _replayed(path: Path, output_format: str = "auto") -> Sent:
    """A fuzz_cases/ file as the request it stands for (an upload or a hints field: in a multipart form)."""
    if path.suffix == ".json":
        return Sent.from_json(path.read_text())
    fields = {"image": FileStorage(io.BytesIO(path.read_bytes() if path.suffix == ".bin" else PHOTO), "photo"),
              "format": output_format}
    if path.suffix == ".txt":
        fields |= {"hints": path.read_text(), "model": "tiny-hints"}
    boundary, body = encode_multipart(fields, boundary="fuzz-form-boundary")
    return Sent({}, f"multipart/form-data; boundary={boundary}", body)


@pytest.mark.parametrize("path", sorted(p for p in CASES.glob("*") if p.suffix in (".bin", ".txt", ".json")),
                         ids=lambda path: path.name)
def test_every_input_that_once_failed_is_answered(clients, path):
    if path.suffix == ".bin":
        decodes_or_refuses(path.read_bytes())
        sniffers_agree(path.read_bytes())
    elif path.suffix == ".txt":
        hints_refused_cleanly(path.read_text())
    for output_format in ("auto", "png") if path.suffix == ".bin" else ("auto",):
        answered_by_both(clients, _replayed(path, output_format))


def test_a_damaged_photo_mostly_keeps_its_signature():
    """The damage keeps the signature often enough that the cases reach the decoders, not only the sniffer: a
    check of the fuzzing itself, which could otherwise pass by testing nothing."""
    found: list[bytes] = []
    settings(fuzzing.SETTINGS, max_examples=200, derandomize=True)(given(damaged_photos())(
        lambda data: found.append(data)))()
    assert sum(bool(sniff_format(data)) for data in found) > 0.5 * len(found)
