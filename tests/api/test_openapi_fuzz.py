"""A bounded schemathesis run against our own OpenAPI document: no input may cause a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from support import auth_header

FUZZ_EXAMPLES = 4
FULL_FUZZ_EXAMPLES = 60
FUZZ_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def api_schema(app):  # type: ignore[no-untyped-def]
    # Large downloads are covered by their own tests.
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex="^/exports")


def test_openapi_document_is_valid(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/properties" in doc["paths"] and "/collections/properties/items" in doc["paths"]


# The default run is bounded (a few derandomised cases per operation, the same each run); the full
# fuzz runs with the drills (-m drill).
@pytest.mark.parametrize(
    "examples_per_operation", [FUZZ_EXAMPLES, pytest.param(FULL_FUZZ_EXAMPLES, marks=pytest.mark.drill)]
)
def test_no_input_causes_a_server_error(api_schema, make_org, make_key, examples_per_operation: int) -> None:  # type: ignore[no-untyped-def]
    # Driven by hand rather than schema.parametrize(), whose pytest plugin lags pytest 9.
    headers = auth_header(make_key(make_org(), "writer"))
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:
        # derandomize: the same inputs every run, so CI is reproducible and a failure replays.
        @settings(
            max_examples=examples_per_operation,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        @given(case=operation.as_strategy())
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            # A generous timeout: this checks answers, not speed (a receipts run on a loaded machine
            # can take past schemathesis's default 10 s); speed is measured in bench/.
            response = case.call(headers=headers, timeout=FUZZ_TIMEOUT_S)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        exercise()
    assert failures == [], "\n".join(sorted(set(failures))[:10])
