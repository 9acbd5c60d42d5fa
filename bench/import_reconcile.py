"""Seconds to import a council's next-year file of N rows with reconciliation, against two peers.

The file: year one in the Code's headings; year two with a third of the
references re-spelt ("… Land and Building" → "… BLDG"), a tenth re-referenced
with the same UPRN, a twentieth re-referenced without UPRN 3 m away, a
fiftieth gone, a fiftieth new, and one "Site Address" column.

Peers, measured in the same run on the same server:
- year one: the first file into an empty organisation (no records to match);
- year two, fresh: the second file into an empty organisation, i.e. the same
  parsing, validation and writes with nothing to reconcile against.

    .venv/bin/python -m bench.import_reconcile [--rows 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import time

from sqlalchemy import Engine, create_engine, text

from api.db import get_engine
from api.services.imports import ImportOutcome, import_transparency
from bench.scratch import scratch_database

TOWNS = ("Pershore", "Evesham", "Worcester", "Malvern")


def council_files(rows: int) -> tuple[bytes, bytes]:
    """Year one and year two of one council's file, as CSV bytes."""
    one, two = io.StringIO(newline=""), io.StringIO(newline="")
    w1, w2 = csv.writer(one), csv.writer(two)
    w1.writerow(
        ["UPRN", "Unique asset identity", "Asset name", "Street name", "Post town", "Postcode"]
        + ["GeoX", "GeoY", "Tenure type", "Tenure sub-category", "Holding type"]
    )
    w2.writerow(
        ["Unique Asset ID", "UPRN", "Asset Name", "Site Address", "GeoX", "GeoY"]
        + ["Tenure Type", "Tenure Sub-Category", "Holding Type", "Ward"]
    )
    for i in range(rows):
        uprn, name, town = f"{100_090_000_000 + i:012d}", f"Council building {i}", TOWNS[i % len(TOWNS)]
        x, y = 380_000 + 40 * (i % 400), 240_000 + 40 * (i // 400)
        street, postcode = f"Street {i % 97} Road", f"WR{1 + i % 15} {i % 10}AB"
        w1.writerow(
            [uprn, f"AV-{i:05d} Land and Building", name, street, town, postcode, x, y]
            + ["Freehold", "Occupied by local authority", "Land and building"]
        )
        if i % 50 == 49:
            continue  # gone from year two
        ref, row_uprn, x2 = f"AV-{i:05d} Land and Building", uprn, x
        if i % 3 == 0:
            ref = f"av-{i:05d} BLDG"
        elif i % 10 == 1:
            ref = f"N-{i:05d}"
        elif i % 20 == 2:
            ref, row_uprn, x2 = f"P-{i:05d}", "", x + 3
        w2.writerow(
            [ref, row_uprn, name, f"{street}, {town}, {postcode}", x2, y]
            + ["Freehold", "Occupied by local authority", "Land and building", "Ward"]
        )
    for j in range(rows // 50):
        w2.writerow(
            [
                f"NEW-{j:05d}",
                "",
                f"New site {j}",
                f"Street {j} Road, Evesham, WR11 1AB",
                300_000 + 40 * j,
                200_000,
                "Leasehold",
                "Licence",
                "Building",
                "Ward",
            ]
        )
    return one.getvalue().encode(), two.getvalue().encode()


def timed(engine: Engine, data: bytes, org: str, **options: bool) -> tuple[float, ImportOutcome]:
    start = time.perf_counter()
    outcome = import_transparency(engine, data, org, actor="bench", **options)
    return time.perf_counter() - start, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    year_one, year_two = council_files(args.rows)
    with scratch_database() as url:
        owner = create_engine(url)
        engine = get_engine(url)
        times: dict[str, list[float]] = {"year one": [], "year two, reconciled": [], "year two, fresh": []}
        for n in range(args.repeat):
            with owner.begin() as conn:
                for code in (f"bench-{n}", f"fresh-{n}"):
                    conn.execute(
                        text("INSERT INTO organisation (code, name, kind) VALUES (:c, :c, 'district')"),
                        {"c": code},
                    )
            seconds, _ = timed(engine, year_one, f"bench-{n}")
            times["year one"].append(seconds)
            seconds, reconciled = timed(engine, year_two, f"bench-{n}", accept_probable=True)
            times["year two, reconciled"].append(seconds)
            seconds, _ = timed(engine, year_two, f"fresh-{n}")
            times["year two, fresh"].append(seconds)
        print(
            f"{args.rows} rows; year two: {reconciled.summary()['matched_by_other_means']} matched by a re-spelt "
            f"reference, {reconciled.probable_applied} probable applied, {reconciled.inserted} inserted, "
            f"{reconciled.not_in_file} not in file"
        )
        fresh = statistics.median(times["year two, fresh"])
        for label, values in times.items():
            median = statistics.median(values)
            print(
                f"{label:22s} median {median:6.2f} s  ({args.rows / median:7.0f} rows/s)  "
                f"x{median / fresh:.2f} of year two, fresh"
            )


if __name__ == "__main__":
    main()
