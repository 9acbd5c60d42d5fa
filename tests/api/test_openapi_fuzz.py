"""schemathesis, every check (``--checks all``), bounded and derandomised, against our own OpenAPI document.

No input may cause a 5xx, and every answer must be what the document says:
its status, media type, headers and schema; invalid input refused, valid
input accepted. The document declares what the server accepts (enums, ranges,
patterns, required fields, derived from the rules the server applies); what a
JSON Schema cannot state (a relation between two fields, an organisation that
must exist) it lists beside the schema, per operation, under
``x-rules-beyond-schema``, and only a refusal under one of those rules counts
as acceptance of valid input.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance as schemathesis_positive_data_acceptance,
)
from support import auth_header

from api.openapi import RULES_KEY

FUZZ_EXAMPLES = 4
FULL_FUZZ_EXAMPLES = 60
FUZZ_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def api_schema(app):
    # Large downloads are covered by their own tests (tests/api/test_exports_api.py).
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex="^/exports")


def test_openapi_document_is_valid(client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/properties" in doc["paths"] and "/collections/properties/items" in doc["paths"]


def test_every_operation_documents_problems_security_and_media_types(client) -> None:
    doc = client.get("/openapi.json").json()
    assert set(doc["components"]["securitySchemes"]) >= {"bearerAuth", "apiKeyHeader"}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "401", "404", "422", "429", "500", "503"):
                content = operation["responses"][status]["content"]
                assert list(content) == ["application/problem+json"], (path, method, status)
            assert operation["security"], (path, method)
    items = doc["paths"]["/collections/properties/items"]["get"]["responses"]["200"]["content"]
    assert "application/geo+json" in items and "text/html" in items


def _field(error: dict[str, Any]) -> str:
    return re.split(r"[.\[]", str(error.get("field", "")), maxsplit=1)[0]


def positive_data_acceptance(ctx, response, case):
    """schemathesis's check that a schema-valid request is accepted, but for rules the document states
    beside the schema (x-rules-beyond-schema: a relation between two fields, or something only the
    register or a map can tell). A refusal passes only when every field it names has such a rule;
    a refusal naming any other field is a schema that says too little, and fails."""
    try:
        return schemathesis_positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        rules = case.operation.definition.raw.get(RULES_KEY, {})
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            errors = []
        if errors and all(_field(error) in rules for error in errors):
            return None
        raise


def _checks():
    load_all_checks()
    builtin = [c for c in CHECKS.get_all() if c is not schemathesis_positive_data_acceptance]
    return [*builtin, positive_data_acceptance]


def _only_path_parameters(operation) -> bool:
    raw = operation.definition.raw
    return "requestBody" not in raw and all(p.get("in") == "path" for p in raw.get("parameters", []))


# The default run is bounded (a few derandomised cases per operation, the same each run); the full
# fuzz runs with the drills (-m drill).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(
    "examples_per_operation", [FUZZ_EXAMPLES, pytest.param(FULL_FUZZ_EXAMPLES, marks=pytest.mark.drill)]
)
def test_schemathesis_all_checks(api_schema, make_org, make_key, mode, examples_per_operation: int) -> None:
    # Driven by hand rather than schema.parametrize(), whose pytest plugin lags pytest 9.
    headers = auth_header(make_key(make_org(), "writer"))
    checks = _checks()
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and _only_path_parameters(operation):
            # schemathesis sends no invalid path value (it would reach another route, or none), so
            # there is no negative case to make: hypothesis would spend seconds finding that out.
            continue

        # derandomize: the same inputs every run, so CI is reproducible and a failure replays.
        @settings(
            max_examples=examples_per_operation,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case) -> None:
            try:
                # A generous timeout: this checks answers, not speed (speed is measured in bench/).
                case.call_and_validate(headers=headers, checks=checks, timeout=FUZZ_TIMEOUT_S)
            except (Exception, BaseExceptionGroup) as exc:  # every failure collected, reported together
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [repr(exc)]
                failures.append(f"{case.method} {case.path}: {' | '.join(lines[:8])[:500]}")

        try:
            exercise()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing invalid to send: no case
    assert failures == [], f"{len(failures)} failures:\n" + "\n".join(sorted(set(failures))[:40])
