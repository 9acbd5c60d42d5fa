"""Co-location candidates and host flags: the SQL half of the analysis (rules in gis/colocation.py).

PostGIS does the spatial work, set-based, in metres (``geom_bng``,
EPSG:27700): it filters the register to the buildings that can share, prunes
with ``ST_ClusterDBSCAN`` those that can be in no hub (no neighbour, or only one
owner in their cluster), and lists the pairs within ``distance_m`` by an
equi-join on grid cells of that side confirmed by ``ST_DWithin``. Python then
forms the hubs (:func:`gis.colocation.find_candidates_indexed`) from those rows.
Every statement is read-only and needs no temporary table, so the analysis can
run on a streaming replica.

Measured (2-core box shared with other work): the Worcestershire seed (1,326
properties) in ~30-70 ms; a synthetic national register of 1,000,000
properties in ~33 s at 800 m (SQL ~13 s, fetch ~7 s, peel and scores ~13 s)
and one town of it in ~0.2 s; ``host_flags`` over it in ~11 s.

Visibility: the analysis sees exactly what the viewer may see. Sensitive
records are not in the public's analysis at all, and every field is read
through :func:`gis.visibility.sql_column`, so a figure hidden from the viewer
is unknown to the arithmetic too (it cannot leak through a sum or a score).
The public sees no money: capital, savings, transition cost and payback are
null for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, text

from api.services.filters import PropertyFilter, parse_bbox, split_values
from api.services.properties import check_organisations
from gis import colocation as domain
from gis import visibility
from gis.errors import FieldError, ValidationFailed
from gis.visibility import Viewer

# Everything: the CLI and the capital receipts model read the whole register.
ADMIN = visibility.ADMIN

LIMIT_MAX = 1_000


def need_milli_sql(fte: str, utilisation_pct: str, gia_m2: str) -> str:
    """The space-need rule of gis.colocation.space_need in SQL, in thousandths of a m².

    The same double-precision arithmetic and rounding as the Python, so both
    sides compare the same integers.
    """
    return f"""round((CASE
        WHEN {fte} IS NOT NULL THEN {fte} * :m2_per_fte
        WHEN {gia_m2} IS NOT NULL AND {utilisation_pct} IS NOT NULL THEN {gia_m2} * {utilisation_pct} / 100.0
        ELSE coalesce({gia_m2}, 0) END) * 1000)::bigint"""


@dataclass(frozen=True)
class CandidateQuery:
    """A validated request: the rules, which buildings enter, and which candidates come out."""

    rules: domain.ColocationRules
    town: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # lon/lat: only buildings inside enter
    owners: tuple[str, ...] = ()  # keep candidates in which one of these bodies takes part
    limit: int | None = None
    partners: tuple[str, ...] = ()  # if given, only these bodies' buildings enter the analysis


def build_query(
    conn: Connection | None = None,
    *,
    distance_m: float = domain.DEFAULT_DISTANCE_M,
    min_owners: int = domain.DEFAULT_MIN_OWNERS,
    uses: str | Sequence[str] | None = None,
    town: str | None = None,
    owner: str | Sequence[str] | None = None,
    bbox: str | None = None,
    limit: int | None = None,
    m2_per_fte: float = domain.DEFAULT_M2_PER_FTE,
    relocation_gbp_per_m2: float = domain.DEFAULT_RELOCATION_GBP_PER_M2,
    partners: str | Sequence[str] | None = None,
) -> CandidateQuery:
    """Validate every parameter at once; raise ValidationFailed naming each bad one.

    ``owner`` keeps the hubs one of those bodies takes part in (the analysis
    itself is unchanged, so the hubs are the same as without it);
    ``partners`` instead limits the analysis to those bodies' buildings ("what
    could these partners share among themselves"). With ``conn``, organisation
    codes are checked against the register too.
    """
    use_list = split_values(uses)
    errors: list[FieldError] = []
    rules = domain.ColocationRules(
        distance_m=distance_m,
        min_owners=min_owners,
        uses=tuple(dict.fromkeys(use_list)) if uses is not None else domain.SHAREABLE_USES,
        m2_per_fte=m2_per_fte,
        relocation_gbp_per_m2=relocation_gbp_per_m2,
    )
    try:
        rules.validate()
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if limit is not None and (isinstance(limit, bool) or not 1 <= limit <= LIMIT_MAX):
        errors.append(FieldError("limit", f"must be between 1 and {LIMIT_MAX}"))
    parsed_bbox = None
    try:
        parsed_bbox = parse_bbox(bbox)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    owners = tuple(dict.fromkeys(split_values(owner)))
    partner_codes = tuple(dict.fromkeys(split_values(partners)))
    for name, codes in (("owner", owners), ("partners", partner_codes)):
        if conn is not None and codes:
            try:
                check_organisations(conn, list(codes), name)
            except ValidationFailed as exc:
                errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return CandidateQuery(
        rules=rules,
        town=(town or "").strip() or None,
        bbox=parsed_bbox,
        owners=owners,
        limit=limit,
        partners=partner_codes,
    )


# The SELECT list in the order of gis.colocation.Building's fields.
_BUILDING_COLUMNS = """k.id::text, k.owner, k.name, k.use_category, k.x_m, k.y_m, ST_X(k.geom), ST_Y(k.geom),
    k.post_town, k.gia_m2, k.utilisation_pct, k.fte, k.value_gbp, k.running_cost_gbp_pa, k.condition,
    k.tenure, k.tenure_detail, k.rag, k.disposal_stage, k.lease_expiry_date"""


def load_buildings(
    conn: Connection, viewer: Viewer, query: CandidateQuery
) -> tuple[list[domain.Building], np.ndarray, np.ndarray]:
    """Return the buildings that could be in a hub and the pairs within walking distance.

    Pairs come as two arrays of positions in the building list. One statement:
    the filter (indexed), ``ST_ClusterDBSCAN`` to prune, window functions to
    count each cluster's owners, and the pairs by an equi-join on grid cells of
    side ``distance_m`` confirmed by ``ST_DWithin``. Buildings come ordered by
    cluster, so a caller could take one cluster at a time.
    """
    rules = query.rules
    flt = PropertyFilter(owner=list(query.partners), use=list(rules.uses), town=query.town, bbox=query.bbox)
    params: dict[str, Any] = {}

    def in_analysis(alias: str) -> str:
        # gis.colocation.in_analysis in SQL, on the viewer's projection of each field.
        where, flt_params = flt.where(viewer, alias=alias)
        params.update(flt_params)  # the same names and values for every alias
        stage = visibility.sql_column("disposal_stage", viewer, alias)
        return (
            f"{where} AND {alias}.geom_bng IS NOT NULL"
            f" AND {alias}.tenure_detail IS DISTINCT FROM 'vacant'"
            f" AND ({stage} IS NULL OR {stage} <> ALL(:leaving))"
        )

    def col(name: str) -> str:
        return visibility.sql_column(name, viewer, "p")

    params.update(
        distance_m=float(rules.distance_m),
        loose_m2=(float(rules.distance_m) + 0.001) ** 2,
        min_owners=rules.min_owners,
        leaving=sorted(domain.LEAVING_STAGES),
    )
    sql = f"""
        WITH s AS (
            SELECT p.id, p.owner, p.geom_bng, p.geom,
                   p.name, p.use_category, p.post_town, p.gia_m2, p.tenure, p.tenure_detail,
                   {col("utilisation_pct")} AS utilisation_pct, {col("fte")} AS fte,
                   {col("value_gbp")} AS value_gbp, {col("running_cost_gbp_pa")} AS running_cost_gbp_pa,
                   {col("condition")} AS condition, {col("rag")} AS rag,
                   {col("disposal_stage")} AS disposal_stage,
                   {col("lease_expiry_date")}::text AS lease_expiry_date,
                   ST_ClusterDBSCAN(p.geom_bng, eps := :distance_m, minpoints := 2) OVER () AS cid
            FROM property p
            WHERE {in_analysis("p")}
        ),
        ranked AS (
            -- Distinct owners per cluster with window functions (no join back).
            SELECT s.*, dense_rank() OVER (PARTITION BY s.cid ORDER BY s.owner) AS owner_rank
            FROM s WHERE s.cid IS NOT NULL
        ),
        keep AS MATERIALIZED (
            SELECT c.*, (row_number() OVER (ORDER BY c.cid, c.id) - 1)::int AS ix,
                   ST_X(c.geom_bng) AS x_m, ST_Y(c.geom_bng) AS y_m,
                   floor(ST_X(c.geom_bng) / :distance_m)::bigint AS gx,
                   floor(ST_Y(c.geom_bng) / :distance_m)::bigint AS gy
            FROM (SELECT r.*, max(r.owner_rank) OVER (PARTITION BY r.cid) AS cluster_owners FROM ranked r) c
            WHERE c.cluster_owners >= :min_owners
        ),
        pairs AS (
            -- Pairs within distance_m by an equi-join on grid cells: a neighbour
            -- lies in the same cell of side distance_m or one of the eight round
            -- it. Half of those eight suffice (each pair of cells meets once),
            -- so every survivor meets only nearby survivors, with no index probe.
            SELECT a.ix AS a_ix, b.ix AS b_ix
            FROM keep a
            CROSS JOIN (VALUES (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)) AS o(dx, dy)
            JOIN keep b ON b.gx = a.gx + o.dx AND b.gy = a.gy + o.dy
            WHERE (a.ix < b.ix OR (o.dx, o.dy) <> (0, 0))
              -- Plain arithmetic first (a millimetre generous), the exact test after.
              AND (a.x_m - b.x_m) ^ 2 + (a.y_m - b.y_m) ^ 2 <= :loose_m2
              AND ST_DWithin(a.geom_bng, b.geom_bng, :distance_m)
        )
        SELECT {_BUILDING_COLUMNS}, coalesce(n.ixs, '{{}}') AS neighbour_ixs
        FROM keep k
        LEFT JOIN (SELECT a_ix, array_agg(b_ix) AS ixs FROM pairs GROUP BY a_ix) n ON n.a_ix = k.ix
        ORDER BY k.ix
    """
    _analysis_settings(conn)
    rows = conn.execute(text(sql), params).all()
    # Plain tuples in the Building's field order: a national run has 300,000+ rows.
    buildings = [domain.Building(*row[:-1]) for row in rows]
    counts = np.fromiter((len(row[-1]) for row in rows), dtype=np.int64, count=len(rows))
    a_ix = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
    b_ix = np.fromiter((ix for row in rows for ix in row[-1]), dtype=np.int64, count=int(counts.sum()))
    return buildings, a_ix, b_ix


def _analysis_settings(conn: Connection) -> None:
    """Planner settings for this transaction's analysis statements.

    DBSCAN's cost estimate trips the JIT threshold, and compiling the plan
    costs more (1-2 s at 200,000 rows) than it saves. The planner cannot size
    the CTEs, and at national scale it then picks merge joins that sort
    millions of rows; the grid equi-joins want hashing. A national run's sorts
    and hashes (a few hundred thousand rows) fit in 128 MB.
    """
    conn.execute(text("SET LOCAL jit = off"))
    conn.execute(text("SET LOCAL enable_mergejoin = off"))
    conn.execute(text("SET LOCAL work_mem = '128MB'"))


def owner_names(conn: Connection, codes: Iterable[str]) -> dict[str, str]:
    codes = sorted(set(codes))
    if not codes:
        return {}
    rows = conn.execute(
        text("SELECT code, name FROM organisation WHERE code = ANY(:codes)"), {"codes": codes}
    )
    return {code: name for code, name in rows}


def find_colocation_candidates(
    conn: Connection, viewer: Viewer, query: CandidateQuery
) -> list[domain.Candidate]:
    """Return the candidate hubs for a validated query, best score first (at most ``query.limit``)."""
    buildings, a_ix, b_ix = load_buildings(conn, viewer, query)
    names = owner_names(conn, (b.owner for b in buildings))
    candidates = domain.find_candidates_indexed(buildings, a_ix, b_ix, query.rules, names)
    if query.owners:
        wanted = set(query.owners)
        candidates = [c for c in candidates if wanted.intersection(c.owners)]
    return candidates[: query.limit] if query.limit else candidates


def _round(value: float | None, places: int = 1) -> float | None:
    return None if value is None else round(value, places)


def candidate_to_dict(
    candidate: domain.Candidate, viewer: Viewer, rank: int, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The JSON form of a candidate: every number, its members and reasons."""
    c = candidate
    money = viewer.sees_money
    names = names or {}
    outline = domain.candidate_outline(c)
    return {
        "id": c.id,
        "rank": rank,
        "score": c.score,
        "score_parts": {k: round(v, 1) for k, v in domain.score_parts(c).items()},
        "reasons": list(c.reasons),
        "town": c.host.post_town,
        "owners": list(c.owners),
        "owner_names": [names.get(o, o) for o in c.owners],
        "host": {
            "id": c.host.id,
            "name": c.host.name,
            "owner": c.host.owner,
            "use_category": c.host.use_category,
            "post_town": c.host.post_town,
            "gia_m2": c.host.gia_m2,
            "condition": c.host.condition,
            "tenure": c.host.tenure,
            "geometry": domain.geojson(domain.host_point(c)),
        },
        "members": [
            {
                "id": m.building.id,
                "name": m.building.name,
                "owner": m.building.owner,
                "use_category": m.building.use_category,
                "post_town": m.building.post_town,
                "gia_m2": m.building.gia_m2,
                "need_m2": _round(m.need.m2),
                "need_basis": m.need.basis.value,
                "distance_to_host_m": _round(m.distance_to_host_m),
                "released": m.released,
                "value_gbp": m.building.value_gbp if money else None,
                "running_cost_gbp_pa": m.building.running_cost_gbp_pa if money else None,
            }
            for m in c.members
        ],
        "member_count": len(c.members),
        "released_count": c.released_count,
        "host_need_m2": _round(c.host_need_m2),
        "moved_m2": _round(c.moved_m2),
        "space_needed_m2": _round(c.space_needed_m2),
        "host_spare_m2": _round(c.host_spare_m2),
        "fits": c.fits,
        "extra_space_m2": _round(c.extra_space_m2),
        "max_distance_m": _round(c.max_distance_m),
        "capital_value_gbp": c.capital_value_gbp if money else None,
        "running_cost_saved_gbp_pa": c.running_cost_saved_gbp_pa if money else None,
        "transition_cost_gbp": c.transition_cost_gbp if money else None,
        "payback_years": _round(c.payback_years, 2) if money else None,
        "geometry": domain.geojson(outline),
    }


def candidates_json(conn: Connection, viewer: Viewer, query: CandidateQuery) -> dict[str, Any]:
    """The JSON answer: ranked candidates with every number, and the assumptions used."""
    candidates = find_colocation_candidates(conn, viewer, query)
    names = owner_names(conn, (o for c in candidates for o in c.owners))
    return {
        "candidates": [candidate_to_dict(c, viewer, rank, names) for rank, c in enumerate(candidates, 1)],
        "count": len(candidates),
        "parameters": parameters(query),
    }


def parameters(query: CandidateQuery) -> dict[str, Any]:
    r = query.rules
    return {
        "distance_m": r.distance_m,
        "min_owners": r.min_owners,
        "uses": list(r.uses),
        "m2_per_fte": r.m2_per_fte,
        "relocation_gbp_per_m2": r.relocation_gbp_per_m2,
        "town": query.town,
        "owner": list(query.owners) or None,
        "bbox": list(query.bbox) if query.bbox else None,
        "limit": query.limit,
        "partners": list(query.partners) or None,
    }


def candidate_feature(
    candidate: domain.Candidate,
    viewer: Viewer,
    rank: int,
    names: Mapping[str, str] | None = None,
    geometry: str = "outline",
) -> dict[str, Any]:
    """One GeoJSON Feature: the group's outline (or the host point) with the headline numbers."""
    c = candidate
    money = viewer.sees_money
    names = names or {}
    shape = domain.candidate_outline(c) if geometry == "outline" else domain.host_point(c)
    return {
        "type": "Feature",
        "id": c.id,
        "geometry": domain.geojson(shape),
        "properties": {
            "id": c.id,
            "rank": rank,
            "score": c.score,
            "town": c.host.post_town,
            "owners": list(c.owners),
            "owner_names": [names.get(o, o) for o in c.owners],
            "host_id": c.host.id,
            "host_name": c.host.name,
            "host_geometry": domain.geojson(domain.host_point(c)),
            "member_ids": list(c.member_ids),
            "released_count": c.released_count,
            "space_needed_m2": _round(c.space_needed_m2),
            "fits": c.fits,
            "extra_space_m2": _round(c.extra_space_m2),
            "capital_value_gbp": c.capital_value_gbp if money else None,
            "running_cost_saved_gbp_pa": c.running_cost_saved_gbp_pa if money else None,
            "transition_cost_gbp": c.transition_cost_gbp if money else None,
            "payback_years": _round(c.payback_years, 2) if money else None,
            "reasons": list(c.reasons),
        },
    }


def candidates_feature_collection(
    conn: Connection,
    viewer: Viewer,
    query: CandidateQuery | None = None,
    *,
    geometry: str = "outline",
    **params: Any,
) -> dict[str, Any]:
    """GeoJSON FeatureCollection of the candidates, best first (OGC collection, map hub layer).

    Pass a validated ``query``, or the same keyword parameters as
    :func:`build_query`. ``geometry`` is ``"outline"`` (the group's hull, 25 m
    round) or ``"host"`` (the host building's point).
    """
    if geometry not in ("outline", "host"):
        raise ValidationFailed([FieldError("geometry", "one of outline, host")])
    if query is None:
        query = build_query(conn, **params)
    candidates = find_colocation_candidates(conn, viewer, query)
    names = owner_names(conn, (o for c in candidates for o in c.owners))
    return {
        "type": "FeatureCollection",
        "features": [
            candidate_feature(c, viewer, rank, names, geometry) for rank, c in enumerate(candidates, 1)
        ],
        "numberReturned": len(candidates),
        "parameters": parameters(query),
    }


def candidates_answer(engine: Engine, viewer: Viewer, *, as_geojson: bool, **params: Any) -> dict[str, Any]:
    """Validate ``params`` (as :func:`build_query`) and answer as JSON or GeoJSON
    (a task for api/offload.py's worker processes)."""
    with engine.connect() as conn:
        query = build_query(conn, **params)
        if as_geojson:
            return candidates_feature_collection(conn, viewer, query)
        return candidates_json(conn, viewer, query)


def host_flags(
    conn: Connection,
    distance_m: float = domain.DEFAULT_DISTANCE_M,
    uses: Sequence[str] | None = None,
    *,
    m2_per_fte: float = domain.DEFAULT_M2_PER_FTE,
    viewer: Viewer = ADMIN,
    include_red: bool = False,
    subject_ids: Sequence[str] | None = None,
) -> dict[str, tuple[bool, bool]]:
    """For each non-red, non-vacant building in a shareable use: (own_host_nearby, partner_host_nearby).

    A host is another building in a shareable use within ``distance_m`` that
    holds a service (not vacant, not on its way out), has a floor area, and
    whose spare space (GIA less its own need) takes this building's need: of
    the same owner (own) or of another (partner). ``include_red`` judges red-rated buildings
    too (the suggested rating must not depend on the human one); ``subject_ids`` judges only
    those buildings (hosts are still every building). Each building is judged
    alone: two may both count on the same spare room (the candidates analysis
    is the one that adds needs up). One statement: a scan and two hash semi-joins on grid cells.
    """
    rules = domain.ColocationRules(
        distance_m=distance_m,
        uses=tuple(uses) if uses is not None else domain.SHAREABLE_USES,
        m2_per_fte=m2_per_fte,
    ).validate()
    params: dict[str, Any] = visibility.sql_params(viewer)
    params.update(
        distance_m=float(rules.distance_m),
        uses=list(rules.uses),
        m2_per_fte=rules.m2_per_fte,
        leaving=sorted(domain.LEAVING_STAGES),
        include_red=include_red,
        subject_ids=list(subject_ids) if subject_ids is not None else None,
    )

    def col(name: str, alias: str) -> str:
        return visibility.sql_column(name, viewer, alias)

    def need_milli(alias: str) -> str:
        # The need rule on the viewer's projection of each field.
        return need_milli_sql(col("fte", alias), col("utilisation_pct", alias), f"{alias}.gia_m2")

    stage = col("disposal_stage", "p")

    def host_nearby(same_owner: bool) -> str:
        # A semi-join: each building meets the hosts in its grid cell (side
        # distance_m) and the eight round it, and stops at the first that fits.
        # Written as s.gx = h.gx - o.dx so that the planner can hash on it.
        return f"""EXISTS (
            SELECT 1 FROM host h
            CROSS JOIN (VALUES (-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1))
                AS o(dx, dy)
            WHERE s.gx = h.gx - o.dx AND s.gy = h.gy - o.dy
              AND h.owner {"=" if same_owner else "<>"} s.owner AND h.id <> s.id
              AND h.spare_milli >= s.need_milli
              AND (h.x_m - s.x_m) ^ 2 + (h.y_m - s.y_m) ^ 2 <= :loose_m2
              AND ST_DWithin(h.geom_bng, s.geom_bng, :distance_m))"""

    # Judging a few buildings needs only the hosts near them: an index range, not the estate.
    near_subjects = ""
    if subject_ids is not None:
        near_subjects = """
              AND ST_DWithin(p.geom_bng, (SELECT ST_Collect(q.geom_bng) FROM property q
                                          WHERE q.id = ANY(CAST(:subject_ids AS uuid[]))), :distance_m)"""
    sql = f"""
        WITH shareable AS MATERIALIZED (
            SELECT p.id, p.owner, p.geom_bng, ST_X(p.geom_bng) AS x_m, ST_Y(p.geom_bng) AS y_m,
                   floor(ST_X(p.geom_bng) / :distance_m)::bigint AS gx,
                   floor(ST_Y(p.geom_bng) / :distance_m)::bigint AS gy,
                   {need_milli("p")} AS need_milli,
                   round(p.gia_m2 * 1000)::bigint - {need_milli("p")} AS spare_milli,
                   p.tenure_detail IS DISTINCT FROM 'vacant' AND p.gia_m2 > 0
                       AND ({stage} IS NULL OR {stage} <> ALL(:leaving)) AS can_host,
                   p.tenure_detail IS DISTINCT FROM 'vacant'
                       AND (:include_red OR {col("rag", "p")} IS DISTINCT FROM 'red')
                       AND (CAST(:subject_ids AS uuid[]) IS NULL OR p.id = ANY(CAST(:subject_ids AS uuid[])))
                       AS is_subject
            FROM property p
            WHERE p.deleted_at IS NULL AND p.geom_bng IS NOT NULL AND {visibility.sql_filter(viewer, "p")}
              AND p.use_category = ANY(:uses){near_subjects}
        ),
        host AS MATERIALIZED (SELECT * FROM shareable WHERE can_host),
        subject AS MATERIALIZED (SELECT * FROM shareable WHERE is_subject),
        own AS (SELECT s.id FROM subject s WHERE {host_nearby(same_owner=True)}),
        partner AS (SELECT s.id FROM subject s WHERE {host_nearby(same_owner=False)})
        SELECT s.id::text AS id, s.id IN (SELECT id FROM own) AS own,
               s.id IN (SELECT id FROM partner) AS partner
        FROM subject s
    """
    params["loose_m2"] = (float(rules.distance_m) + 0.001) ** 2
    _analysis_settings(conn)
    return {row.id: (row.own, row.partner) for row in conn.execute(text(sql), params)}
