"""Hypothesis strategies for the request around an upload: the ``hints`` JSON, query values, and multipart
bodies malformed on purpose; ``sent_requests`` puts them together as one ``Sent`` request."""

from __future__ import annotations

import io
import json

from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.reliability.fuzzing import Sent
from tests.reliability.strategies import damage

NUMBERS = (st.integers(-5, 100) | st.floats(allow_nan=True, allow_infinity=True)
           | st.integers(-(10**400), 10**400) | st.booleans() | st.none() | st.text(max_size=6))
COLOURS = st.from_regex(r"#?[0-9a-fA-F]{6}", fullmatch=True) | st.text(max_size=9) | NUMBERS
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=12)
HINT = st.fixed_dictionaries({"x": NUMBERS, "y": NUMBERS, "color": COLOURS},
                             optional={"extra": JSON}) | st.dictionaries(st.sampled_from(["x", "y", "color"]), JSON)
VALID_HINT = st.fixed_dictionaries({"x": st.integers(0, 1) | st.floats(0, 32),
                                    "y": st.integers(0, 1) | st.floats(0, 15),
                                    "color": st.from_regex(r"#[0-9a-f]{6}", fullmatch=True)})


def hints_texts() -> st.SearchStrategy[str]:
    """The ``hints`` field: valid hints, near-valid ones (numbers out of range, huge, NaN, wrong types), any
    JSON, any text, deep nesting."""
    depth = st.integers(1, 50_000).map(lambda n: "[" * n + "]" * n)
    return st.one_of(st.lists(HINT, max_size=70).map(json.dumps), JSON.map(json.dumps), st.text(max_size=80),
                     depth, st.lists(HINT, max_size=3).map(json.dumps).map(lambda s: s[: len(s) // 2]),
                     st.lists(VALID_HINT, min_size=1, max_size=4).map(json.dumps))


def _mostly(valid: list[str], odd: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value three times in four, so that many requests get as far as the model; else an odd one."""
    return st.one_of(*[st.sampled_from(valid)] * 3, odd)


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)  # a surrogate cannot be URL-encoded
PARAMETERS = {
    "render_size": _mostly(["64", "128", "auto", ""], st.sampled_from(
        ["1024", "63", "1025", "fast", " 128 ", "1e2", "0x40", "６４", "-0", "9" * 5000]) | TEXT),
    "format": _mostly(["png", "jpeg", "webp", "tiff", "auto"], st.sampled_from(["JPEG", "jpg", "tif", "gif", ""])
                      | TEXT),
    "model": _mostly(["unet_resnet18", "tiny-vivid", "tiny-hints"], st.sampled_from(["auto", ""]) | TEXT),
    "vividness": _mostly(["0", "0.5", "1"], st.sampled_from(["nan", "inf", "-0", "1e-400", "1" * 400, "0x1"]) | TEXT),
    "hints": hints_texts(),
    "filename": TEXT,
}


def parameters() -> st.SearchStrategy[dict[str, str]]:
    """Any subset of the request's parameters, each with a drawn value."""
    return st.fixed_dictionaries({}, optional=PARAMETERS)


@st.composite
def multipart_bodies(draw, image: bytes) -> tuple[str, bytes]:
    """(Content-Type, body): a multipart form with the field ``image`` and a few text fields, made wrong
    in a drawn way (boundaries, part headers, encodings, parts), then maybe damaged anywhere."""
    boundary = draw(st.sampled_from(["fuzz", "x" * 70, "a b", '"quoted"', ""])
                    | st.text("abc-_'()+,./:=?", max_size=80))
    dashes = ("--" + boundary.strip('"')).encode()
    filename = draw(TEXT).encode("utf-8") if draw(st.booleans()) else draw(st.binary(max_size=20))
    disposition = draw(st.sampled_from([b'form-data; name="image"; filename="%s"', b"form-data; name=image",
                                        b"form-data; name=\"image\"; filename*=UTF-8''%s", b"attachment", b""]))
    parts = [[b"Content-Disposition: " + disposition.replace(b"%s", filename), b"Content-Type: image/jpeg"], image]
    fields = [(name.encode(), value.encode("utf-8") if draw(st.booleans()) else draw(st.binary(max_size=12)))
              for name, value in draw(parameters()).items()]
    fields += [(b"f%d" % i, b"v") for i in range(draw(st.sampled_from([0, 0, 70])))]  # over MAX_FORM_PARTS
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    body = b"".join(dashes + newline + b'Content-Disposition: form-data; name="%s"' % name + newline * 2 + value
                    + newline for name, value in fields)
    if draw(st.booleans()):
        parts[0] = draw(st.permutations(parts[0] + [b"Content-Type: multipart/mixed", b"X: " + b"y" * 9000]))
    body += dashes + newline + newline.join(parts[0]) + newline * 2 + parts[1] + newline
    body += draw(st.sampled_from([dashes + b"--" + newline, dashes + b"--", b"", dashes + newline]))
    if draw(st.booleans()):
        body = damage(draw, body)
    charset = draw(st.sampled_from(["", "; charset=utf-8", "; charset=latin-1", "; charset=bogus"]))
    return f"multipart/form-data; boundary={boundary}{charset}", body


RAW_TYPES = st.sampled_from(["image/jpeg", "image/png", "application/octet-stream", "image/x-anything", "text/plain",
                             "application/json", "", "multipart/form-data", "image/jpeg; charset=utf-8"])
RAW_QUERY = st.text("abcdefghimnorstvz_=&%;+0123456789ABCDEF[]{}\"#, ", max_size=60)  # escapes of bad UTF-8 too


@st.composite
def sent_requests(draw, uploads: st.SearchStrategy[bytes]) -> Sent:
    """An upload sent as the service's clients send one (a multipart form, the raw body) or malformed, with
    drawn parameters in the query string, the form, or both."""
    image, fields = draw(uploads), draw(parameters())
    how = draw(st.sampled_from(["multipart", "multipart", "raw", "raw query", "malformed"]))
    if how == "raw":
        return Sent(fields, draw(RAW_TYPES), image)
    if how == "raw query":
        return Sent(draw(RAW_QUERY), draw(RAW_TYPES), image)
    if how == "malformed":
        content_type, body = draw(multipart_bodies(image))
        return Sent({}, content_type, body)
    in_form = draw(st.sets(st.sampled_from(sorted(fields)))) if fields else set()
    form = {name: value for name, value in fields.items() if name in in_form}
    files = draw(st.sampled_from([1, 1, 1, 0, 2]))  # none, or two in the one field
    filename = fields.get("filename", "photo.jpg")
    values = [(name, value) for name, value in form.items()] + [
        ("image", FileStorage(io.BytesIO(image), filename=filename, content_type="image/jpeg"))] * files
    boundary, body = encode_multipart(MultiDict(values), boundary="fuzz-form-boundary")  # not random's
    query = {name: value for name, value in fields.items() if name not in in_form}
    return Sent(query, f"multipart/form-data; boundary={boundary}", body)
