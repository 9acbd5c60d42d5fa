"""Building the app starts no database and installs nothing: the CLI or a fixture chooses the database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter with an audit hook, so every process the build spawns (pg_ctl, initdb,
# apt-get) is recorded, whatever module would spawn it.
PROBE = r"""
import json, sys
spawned = []
def hook(event, args):
    if event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork"):
        spawned.append(repr(args[:2]))
sys.addaudithook(hook)

from fastapi.testclient import TestClient
from api.main import create_app
from api.settings import Settings

data_dir = sys.argv[1]
app = create_app(Settings(database_url="postgresql://estate:x@127.0.0.1:9/estate", data_dir=data_dir))
openapi_status = TestClient(app).get("/openapi.json").status_code
try:
    create_app(Settings(database_url=None, data_dir=data_dir))
    refused = None
except RuntimeError as exc:
    refused = str(exc)
print(json.dumps({
    "openapi_status": openapi_status,
    "refused": refused,
    "spawned": spawned,
    "cluster_module_loaded": "estate_infra.cluster" in sys.modules,
}))
"""


def test_create_app_with_an_unreachable_url_returns_an_app_and_spawns_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "would-be-cluster"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        # The test client names the host "testserver", which the service answers only when told to.
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "ESTATE_ALLOWED_HOSTS": "testserver"},
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["openapi_status"] == 200  # an app, answering what needs no database
    assert seen["spawned"] == []  # no pg_ctl, initdb or apt-get
    assert not seen["cluster_module_loaded"]
    assert not data_dir.exists()  # no cluster folder created
    # With no URL at all it refuses, saying where a database comes from, instead of starting one.
    assert seen["refused"] and "DATABASE_URL" in seen["refused"]
