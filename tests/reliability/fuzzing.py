"""How test_fuzz.py runs a target, what a request to fuzz is, and what every answer must be.

Bounded (``make test``): each target a fixed number of derandomized cases, the same ones every run. Timed
(``FUZZ_SECONDS=60``, what scripts/fuzz.py sets): each target that many seconds of fresh random cases; every
input that fails is written under ``FUZZ_FINDINGS`` in the form tests/reliability/fuzz_cases/ replays, and
the run goes on. Either way the cases run per target are added to ``FUZZ_COUNTS`` (a JSON file) when set.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

SECONDS = float(os.environ.get("FUZZ_SECONDS") or 0)
FINDINGS = Path(os.environ.get("FUZZ_FINDINGS") or "runs/fuzz-findings")
COUNTS = os.environ.get("FUZZ_COUNTS")
SETTINGS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


@dataclass(frozen=True)
class Sent:
    """One request to POST at a colorize endpoint: its query (fields, or a raw query string), type and body."""

    query: dict[str, str] | str = field(default_factory=dict)
    content_type: str = ""
    body: bytes = b""

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "body": base64.b64encode(self.body).decode()}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Sent:
        fields = json.loads(text)
        return cls(fields["query"], fields["content_type"], base64.b64decode(fields["body"]))

    def post(self, client, path: str):
        return client.post(path, query_string=self.query, data=self.body, content_type=self.content_type or None)


def _case_file(value) -> tuple[str, bytes]:
    """A failing input as a file fuzz_cases/ replays: an upload (.bin), a hints field (.txt), a request."""
    if isinstance(value, bytes):
        return "bin", value
    if isinstance(value, str):
        return "txt", value.encode("utf-8", "surrogatepass")
    if isinstance(value, Sent):
        return "json", value.to_json().encode()
    return "repr", repr(value).encode()


def _save(target: str, value, error: BaseException) -> Path:
    suffix, data = _case_file(value)
    FINDINGS.mkdir(parents=True, exist_ok=True)
    path = FINDINGS / f"{target}-{hashlib.sha256(data).hexdigest()[:10]}.{suffix}"
    path.write_bytes(data)
    path.with_suffix(".error").write_text("".join(traceback.format_exception(error)))
    return path


def _count(target: str, cases: int) -> None:
    if COUNTS:
        counts = json.loads(Path(COUNTS).read_text()) if Path(COUNTS).exists() else {}
        counts[target] = counts.get(target, 0) + cases
        Path(COUNTS).write_text(json.dumps(counts, indent=1))


def fuzz(target: str, strategy: st.SearchStrategy, check: Callable, examples: int) -> None:
    """``check`` over cases drawn from ``strategy``: ``examples`` derandomized ones, or FUZZ_SECONDS of fresh ones."""
    cases, failed = 0, []

    def case(value) -> None:
        nonlocal cases
        cases += 1
        try:
            check(value)
        except BaseException as exc:
            failed[:] = [(value, exc)]  # the last one is the one Hypothesis shrank to
            raise

    if not SECONDS:
        try:
            settings(SETTINGS, max_examples=examples, derandomize=True)(given(strategy)(case))()
        finally:
            _count(target, cases)
        return
    found, end = [], time.monotonic() + SECONDS
    try:
        while time.monotonic() < end:  # batches of fresh random cases; one finding (shrunk) per batch at most
            failed.clear()
            try:
                settings(SETTINGS, max_examples=200, report_multiple_bugs=False)(given(strategy)(case))()
            except Exception:
                if not failed:  # not the check's: the fuzzing itself is broken
                    raise
                found.append(_save(target, *failed[0]))
    finally:
        _count(target, cases)
    assert not found, f"{len(found)} finding(s) in {cases} cases: {', '.join(map(str, found))}"


def check_answer(response, html: bool = False) -> None:
    """2xx with an image (or the result page), or 4xx with the JSON error of docs/limits.md (the page)."""
    status, body = response.status_code, response.get_data()
    assert 200 <= status < 300 or 400 <= status < 500, f"{status}: {body[:500]!r}"
    if html:
        assert response.mimetype == "text/html", response.mimetype
    elif status >= 400:
        assert response.mimetype == "application/json", f"{status} {response.mimetype}: {body[:200]!r}"
        error = json.loads(body)["error"]
        assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str)
        assert error["message"]
    else:
        assert response.mimetype.startswith("image/"), response.mimetype
        Image.open(io.BytesIO(body)).load()  # the answer is a whole image
