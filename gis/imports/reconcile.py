"""Reconcile a council's new file with the records it already has: which row updates which record.

Councils re-publish their land and assets list every year, and the references
drift: a different letter case, a suffix re-spelt ("Land and Building" one
year, "BLDG" the next). Matching on the exact reference alone puts the same
asset in the register twice. :func:`reconcile` matches each incoming row to
one stored record, trying in order:

1. the same reference (certain);
2. the same reference normalised by :func:`gis.imports.patches.normalise_ref`
   (certain when one row and one record share the key and their UPRNs do not
   disagree; probable otherwise);
3. the same UPRN (probable: one UPRN can hold several assets);
4. the same place within ``radius_m`` metres, in British National Grid, with
   a similar name (probable).

A probable match carries a score (0–1) and a reason for the report; the
caller decides whether to apply it. Stored records no row matched are
returned as ``missing``. Pure Python: dictionaries and a grid index, so a file
of thousands of rows against thousands of records is linear, not quadratic.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from rapidfuzz import fuzz, utils

from gis.imports.patches import normalise_ref

# "A few metres": a council re-surveying a point moves it by a few metres; two
# different buildings with similar names are rarely this close.
RADIUS_M = 25.0
# token_sort_ratio (0-100) from which two names count as "similar" for a place match.
PLACE_NAME_SIMILARITY = 80.0
# Within one UPRN shared by several rows or records, the least name similarity to pair them.
UPRN_GROUP_NAME_SIMILARITY = 60.0


class MatchKind(StrEnum):
    exact_ref = "same reference"
    normalised_ref = "same reference written differently"
    uprn = "same UPRN"
    place = "same place, similar name"


@dataclass(frozen=True)
class Asset:
    """What the matcher needs of a row or a record: reference, UPRN, name, point in BNG metres."""

    asset_ref: str
    uprn: int | None
    name: str
    x_m: float | None = None
    y_m: float | None = None
    row: int | None = None  # the file row, for incoming rows
    id: str | None = None  # the register id, for stored records
    retired: bool = False


@dataclass(frozen=True)
class Match:
    """One incoming row paired with one stored record."""

    incoming: Asset
    stored: Asset
    kind: MatchKind
    score: float  # 1.0 for a certain match
    reason: str
    certain: bool

    def describe(self) -> str:
        """The match for the report: kind, stored reference, reason and score."""
        return (
            f"{self.kind.value}: stored as {self.stored.asset_ref!r}; {self.reason}; score {self.score:.2f}"
        )


@dataclass
class Reconciliation:
    """Matches by file row, the rows that matched nothing, and the live records no row matched."""

    matches: dict[int, Match] = field(default_factory=dict)
    new_rows: list[int] = field(default_factory=list)
    missing: list[Asset] = field(default_factory=list)

    @property
    def probable(self) -> list[Match]:
        return [m for m in self.matches.values() if not m.certain]


def name_similarity(a: str, b: str) -> float:
    """How alike two names are, 0-100, ignoring case, punctuation and word order."""
    return float(fuzz.token_sort_ratio(a, b, processor=utils.default_process))


def distance_m(a: Asset, b: Asset) -> float | None:
    if a.x_m is None or a.y_m is None or b.x_m is None or b.y_m is None:
        return None
    return math.hypot(a.x_m - b.x_m, a.y_m - b.y_m)


def _names(a: Asset, b: Asset, similarity: float) -> str:
    return f"names {b.name!r} / {a.name!r} {similarity:.0f}% alike"


def _apart(a: Asset, b: Asset) -> str:
    d = distance_m(a, b)
    return "" if d is None else f"; {d:.0f} m apart"


def reconcile(
    incoming: Sequence[Asset],
    stored: Iterable[Asset],
    *,
    radius_m: float = RADIUS_M,
    place_name_similarity: float = PLACE_NAME_SIMILARITY,
) -> Reconciliation:
    """Pair each incoming row with at most one stored record; see the module docstring for the order.

    ``incoming`` rows have distinct references and a ``row``; ``stored`` are
    the organisation's records, retired ones included (only an exact
    reference brings one back).
    """
    result = Reconciliation()
    stored = list(stored)
    by_ref = {s.asset_ref: s for s in stored}
    taken: set[str] = set()  # stored asset_refs already matched

    def add(match: Match) -> None:
        assert match.incoming.row is not None
        result.matches[match.incoming.row] = match
        taken.add(match.stored.asset_ref)

    for row in incoming:
        if (same := by_ref.get(row.asset_ref)) is not None:
            add(Match(row, same, MatchKind.exact_ref, 1.0, "reference unchanged", True))

    def open_rows() -> list[Asset]:
        return [r for r in incoming if r.row not in result.matches]

    def open_records() -> list[Asset]:
        return [s for s in stored if not s.retired and s.asset_ref not in taken]

    # 2. normalised reference: only a key held by exactly one row and one record.
    rows_by_key: dict[str, list[Asset]] = defaultdict(list)
    records_by_key: dict[str, list[Asset]] = defaultdict(list)
    for r in open_rows():
        rows_by_key[normalise_ref(r.asset_ref)].append(r)
    for s in open_records():
        records_by_key[normalise_ref(s.asset_ref)].append(s)
    for key, rows in rows_by_key.items():
        records = records_by_key.get(key, [])
        if len(rows) != 1 or len(records) != 1:
            continue
        r, s = rows[0], records[0]
        reason = f"{s.asset_ref!r} then, {r.asset_ref!r} now"
        if r.uprn is not None and s.uprn is not None and r.uprn != s.uprn:
            reason += f", but the UPRN changed ({s.uprn} → {r.uprn})"
            add(Match(r, s, MatchKind.normalised_ref, 0.6, reason, False))
        else:
            add(Match(r, s, MatchKind.normalised_ref, 1.0, reason, True))

    # 3. the same UPRN.
    rows_by_uprn: dict[int, list[Asset]] = defaultdict(list)
    records_by_uprn: dict[int, list[Asset]] = defaultdict(list)
    for r in open_rows():
        if r.uprn is not None:
            rows_by_uprn[r.uprn].append(r)
    for s in open_records():
        if s.uprn is not None:
            records_by_uprn[s.uprn].append(s)
    candidates: list[tuple[float, Match]] = []
    for uprn, rows in rows_by_uprn.items():
        records = records_by_uprn.get(uprn, [])
        one_to_one = len(rows) == 1 and len(records) == 1
        for r in rows:
            for s in records:
                similarity = name_similarity(r.name, s.name)
                if not one_to_one and similarity < UPRN_GROUP_NAME_SIMILARITY:
                    continue
                score = 0.5 + 0.5 * similarity / 100
                reason = f"UPRN {uprn}; {_names(r, s, similarity)}{_apart(r, s)}"
                candidates.append((score, Match(r, s, MatchKind.uprn, round(score, 2), reason, False)))
    _assign_greedily(candidates, result, add)

    # 4. the same place with a similar name, found through a grid of radius_m cells.
    grid: dict[tuple[int, int], list[Asset]] = defaultdict(list)
    for s in open_records():
        if s.x_m is not None and s.y_m is not None:
            grid[(math.floor(s.x_m / radius_m), math.floor(s.y_m / radius_m))].append(s)
    candidates = []
    for r in open_rows():
        if r.x_m is None or r.y_m is None:
            continue
        cx, cy = math.floor(r.x_m / radius_m), math.floor(r.y_m / radius_m)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for s in grid.get((cx + dx, cy + dy), ()):
                    d = distance_m(r, s)
                    if d is None or d > radius_m:
                        continue
                    if r.uprn is not None and s.uprn is not None and r.uprn != s.uprn:
                        continue  # two UPRNs say two assets, however close
                    similarity = name_similarity(r.name, s.name)
                    if similarity < place_name_similarity:
                        continue
                    score = similarity / 100 * (1 - 0.5 * d / radius_m)
                    reason = f"{d:.0f} m apart (within {radius_m:.0f} m); {_names(r, s, similarity)}"
                    candidates.append((score, Match(r, s, MatchKind.place, round(score, 2), reason, False)))
    _assign_greedily(candidates, result, add)

    result.new_rows = sorted(r.row for r in open_rows() if r.row is not None)
    result.missing = sorted(open_records(), key=lambda s: s.asset_ref)
    return result


def _assign_greedily(
    candidates: list[tuple[float, Match]], result: Reconciliation, add: Callable[[Match], None]
) -> None:
    """Take the best-scoring pairs first, each row and record at most once (ties broken by row, then ref)."""
    used_records = {m.stored.asset_ref for m in result.matches.values()}
    candidates.sort(key=lambda c: (-c[0], c[1].incoming.row or 0, c[1].stored.asset_ref))
    for _, match in candidates:
        if match.incoming.row in result.matches or match.stored.asset_ref in used_records:
            continue
        add(match)
        used_records.add(match.stored.asset_ref)
