"""GDAL's OAPIF driver — the client QGIS uses — reads the service: a real peer, not our own code."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from support import auth_header

pytestmark = pytest.mark.skipif(
    shutil.which("ogrinfo") is None, reason="gdal-bin is installed by scripts/setup.sh"
)


def _gdal(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    config = ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {key}"] if key else []
    return subprocess.run(
        [args[0], *config, *args[1:]], capture_output=True, text=True, timeout=120, check=True
    )


def test_ogrinfo_lists_the_properties_layer(live_server) -> None:
    out = _gdal("ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/").stdout
    assert "properties" in out


def test_ogr2ogr_downloads_every_feature_with_numeric_value(live_server, client, make_key, tmp_path) -> None:
    key = make_key("worcestershire-cc", "reader")
    expected = client.get("/collections/properties/items?limit=1", headers=auth_header(key)).json()[
        "numberMatched"
    ]
    target = tmp_path / "estate.gpkg"
    _gdal("ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{live_server}/", "properties", key=key)
    summary = _gdal("ogrinfo", "-ro", "-so", str(target), "properties").stdout  # GDAL 3.6 has no -json
    assert f"Feature Count: {expected}" in summary
    fields = dict(re.findall(r"^(\w+): (\w+) \(", summary, flags=re.MULTILINE))
    assert fields["value_gbp"] in ("Integer", "Integer64", "Real")
    assert fields["gia_m2"] == "Real"
