#!/usr/bin/env bash
# Install everything (test extras, Chromium, GDAL) and run the full test suite.
# The suite starts its own throwaway PostGIS on loopback; no service need be running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
