#!/usr/bin/env bash
# Install everything (test extras, Chromium, GDAL), check the code, and run the test suite.
# Checks first (seconds): ruff lint, ruff format, mypy over api, gis and estate_infra ([tool.mypy]).
# The suite starts its own throwaway PostGIS on loopback; no service need be running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
