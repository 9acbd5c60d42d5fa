#!/usr/bin/env bash
# Install everything Shared Estate needs on Debian/Ubuntu: PostgreSQL 15 + PostGIS,
# GDAL, Chromium (tests), and a Python virtualenv with the project. Idempotent.
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

packages=(postgresql-15 postgresql-15-postgis-3 gdal-bin python3-venv)
command -v npm >/dev/null || packages+=(nodejs npm)
if [[ $want_test == 1 ]]; then packages+=(chromium); fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
  if [[ $(id -u) == 0 ]]; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing Debian packages. Run this, then run this script again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
extras=""
[[ $want_test == 1 ]] && extras="[test]"
stamp=".venv/.installed$extras"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  echo "installing Python packages into .venv (log: .venv/pip.log)"
  # uv (from PyPI) resolves and downloads in parallel: ~15 s from an empty cache where pip took ~70 s.
  # pip is the fallback whenever uv cannot do it: no uv wheel for this platform, or a package mirror
  # configured for pip only (uv reads neither pip.conf nor PIP_INDEX_URL). Bytecode is compiled at
  # install, as pip does: where PYTHONDONTWRITEBYTECODE is set, every process (test workers, servers,
  # work processes) would otherwise compile pandas, numpy and the rest anew (~70 s of a test run).
  { .venv/bin/python -m pip install -q uv \
      && .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python -e ".$extras"; } > .venv/pip.log 2>&1 \
    || .venv/bin/python -m pip install -q -e ".$extras" >> .venv/pip.log 2>&1 \
    || { tail -40 .venv/pip.log >&2; exit 1; }
  .venv/bin/python -c "import api, gis, fastapi, geoalchemy2, pyogrio" || { echo "python install failed" >&2; exit 1; }
  touch "$stamp"
fi

# Browser libraries the app serves itself (MapLibre GL JS for the map, Swagger UI and ReDoc for /docs and /redoc), pinned in package-lock.json.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
