#!/usr/bin/env bash
# Install everything, start the embedded PostGIS, migrate, load the Worcestershire seed, serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/estate up "$@"
