#!/usr/bin/env bash
# Install everything (test extras, Chromium, GDAL), check the code, and run the test suite.
# Checks first (seconds): ruff lint, ruff format, mypy over api, gis and estate_infra ([tool.mypy]).
# The suite starts its own throwaway PostGIS on loopback; no service need be running.
# Two pytest-xdist workers, each with its own throwaway cluster: the browser journeys wait on Chromium
# and the API tests on PostgreSQL, so two workers keep both cores busy. Drills measure time and run
# alone: ESTATE_TEST_WORKERS=0 bash scripts/test.sh -m drill.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -n "${ESTATE_TEST_WORKERS:-2}" "$@"
