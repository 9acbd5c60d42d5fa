"""Load the Worcestershire seed: organisations, then properties through the bulk upsert."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from api.db import write_transaction
from api.services.bulk import UpsertResult, upsert_records
from gis.register import validate_property

SEED_DIR = Path(__file__).resolve().parents[2] / "seed"
SEED_ACTOR = "seed:worcestershire"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def seed_row_to_input(row: dict[str, str]) -> dict[str, Any]:
    """Turn one seed CSV row (text cells) into the JSON-shaped input the register validates."""
    numbers_int = {"uprn", "value_gbp", "running_cost_gbp_pa", "maintenance_backlog_gbp"}
    numbers_float = {"gia_m2", "site_area_ha", "utilisation_pct", "fte"}
    data: dict[str, Any] = {}
    for key, raw in row.items():
        value = (raw or "").strip()
        if key in ("lon", "lat") or value == "":
            continue
        if key in numbers_int:
            data[key] = int(float(value))
        elif key in numbers_float:
            data[key] = float(value)
        elif key == "sensitive":
            data[key] = value.lower() == "true"
        elif key == "disposal_blockers":
            data[key] = [part for part in value.split(";") if part]
        else:
            data[key] = value
    if row.get("lon") and row.get("lat"):
        data["geometry"] = {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]}
    return data


def upsert_organisations(conn: Connection, rows: Iterable[dict[str, str]]) -> int:
    count = 0
    for row in rows:
        conn.execute(
            text(
                """INSERT INTO organisation (code, name, kind, gss_code) VALUES (:code, :name, :kind, :gss)
               ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                 gss_code = EXCLUDED.gss_code"""
            ),
            {
                "code": row["code"],
                "name": row["name"],
                "kind": row["kind"],
                "gss": row.get("gss_code") or None,
            },
        )
        count += 1
    return count


def load_seed(
    engine: Engine, seed_dir: Path = SEED_DIR, progress: Callable[[int, int], None] | None = None
) -> UpsertResult:
    """Load (or refresh) the seed; running it twice leaves the same rows and no new history."""
    organisations = read_csv(seed_dir / "organisations.csv")
    rows = read_csv(seed_dir / "properties.csv")
    records = []
    for i, row in enumerate(rows):
        records.append(validate_property(seed_row_to_input(row), creating=True, index=i))
        if progress and (i % 100 == 0 or i == len(rows) - 1):
            progress(i + 1, len(rows))
    with write_transaction(engine, SEED_ACTOR) as conn:
        upsert_organisations(conn, organisations)
        return upsert_records(conn, records)
