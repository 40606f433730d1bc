"""schemathesis against the live model service's own GET /openapi.json: requests the document allows (and
requests it forbids) never get a 5xx, and every answer keeps to the document: its status, content type,
headers and body schema. Bounded to 30 examples per operation and mode.

schemathesis's own pytest integration (``schemathesis.pytest.from_fixture``) fails on pytest 9 (it reads
``request.node._nodeid``), so each operation's Hypothesis strategy is driven here directly.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")  # the dev tools may not include it

from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
OPERATIONS = [("POST", "/v1/colorize"), ("GET", "/v1/models"), ("GET", "/healthz"), ("GET", "/readyz"),
              ("GET", "/metrics"), ("GET", "/openapi.json"), ("POST", "/v1/videos"),
              ("GET", "/v1/videos/{job_id}"), ("DELETE", "/v1/videos/{job_id}"), ("GET", "/v1/videos/{job_id}/result")]


@pytest.fixture(scope="module")
def document(model_service):
    return schemathesis.openapi.from_url(f"{model_service.url}/openapi.json")


def test_every_documented_operation_is_fuzzed(document):
    paths = document.raw_schema["paths"]
    assert {(method.upper(), path) for path in paths for method in paths[path]} == set(OPERATIONS)


# Negative cases (requests the document forbids) exist only where there is something to get wrong.
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    ("POST", path, GenerationMode.NEGATIVE) for path in ("/v1/colorize", "/v1/videos")]


@pytest.mark.parametrize("method, path, mode", CASES, ids=[f"{m} {p} {mode}" for m, p, mode in CASES])
def test_the_model_service_keeps_to_its_openapi_document(document, method, path, mode):
    operation = document[path][method]

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=60)

    call()
