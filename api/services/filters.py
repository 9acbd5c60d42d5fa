"""The one filter every listing shares: /properties, OGC items, tiles and exports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gis import crs as crs_mod
from gis import visibility
from gis.errors import FieldError, ValidationFailed
from gis.vocab import Rag, UseCategory, values

UNRATED = "unrated"  # rag filter value for buildings with no rating (or one the caller may not see)
RAG_FILTER_VALUES = (*values(Rag), UNRATED)


@dataclass
class PropertyFilter:
    owner: list[str] = field(default_factory=list)
    rag: list[str] = field(default_factory=list)
    use: list[str] = field(default_factory=list)
    town: str | None = None
    postcode: str | None = None  # prefix, spaces ignored
    q: str | None = None  # name contains, case-insensitive
    bbox: tuple[float, float, float, float] | None = None  # lon/lat (CRS84)
    # A box given in British National Grid, kept as given: its lon/lat hull above is larger.
    bbox_bng: tuple[float, float, float, float] | None = None
    min_value_gbp: int | None = None
    max_value_gbp: int | None = None
    include_deleted: bool = False

    @property
    def aggregable(self) -> bool:
        """True when tile aggregates (kept by owner, use, RAG and sensitivity) can answer this filter."""
        return not (
            self.town
            or self.postcode
            or self.q
            or self.bbox
            or self.bbox_bng
            or self.min_value_gbp is not None
            or self.max_value_gbp is not None
            or self.include_deleted
        )

    def cache_key(self) -> str:
        """A canonical text of this filter: equal filters, equal keys (order and repeats ignored)."""
        parts = [
            ",".join(sorted(set(self.owner))),
            ",".join(sorted(set(self.rag))),
            ",".join(sorted(set(self.use))),
            self.town.lower().strip() if self.town else "",
            self.postcode.replace(" ", "").upper() if self.postcode else "",
            self.q or "",
            ",".join(repr(v) for v in self.bbox) if self.bbox else "",
            ",".join(repr(v) for v in self.bbox_bng) if self.bbox_bng else "",
            "" if self.min_value_gbp is None else str(self.min_value_gbp),
            "" if self.max_value_gbp is None else str(self.max_value_gbp),
            "d" if self.include_deleted else "",
        ]
        return "|".join(parts)

    def where(
        self, viewer: visibility.Viewer, alias: str = "p", *, aggregates: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """Return an SQL predicate and its parameters; every clause can use an index.

        With ``aggregates`` the alias is a ``tile_aggregate`` row, which holds
        live records only and carries owner, use_category, rag and sensitive.
        """
        clauses = [visibility.sql_filter(viewer, alias)]
        params: dict[str, Any] = visibility.sql_params(viewer)
        if aggregates and not self.aggregable:
            raise ValueError("tile aggregates cannot answer this filter")
        if not self.include_deleted and not aggregates:
            clauses.append(f"{alias}.deleted_at IS NULL")
        if self.owner:
            clauses.append(f"{alias}.owner = ANY(:f_owner)")
            params["f_owner"] = self.owner
        if self.rag:
            rag = visibility.sql_column("rag", viewer, alias)
            rated = [r for r in self.rag if r != UNRATED]
            parts = [f"{rag} = ANY(:f_rag)"] if rated else []
            if UNRATED in self.rag:
                parts.append(f"{rag} IS NULL")
            clauses.append("(" + " OR ".join(parts) + ")")
            params["f_rag"] = rated
        if self.use:
            clauses.append(f"{alias}.use_category = ANY(:f_use)")
            params["f_use"] = self.use
        if self.town:
            clauses.append(f"lower({alias}.post_town) = lower(:f_town)")
            params["f_town"] = self.town.strip()
        if self.postcode:
            clauses.append(f"upper(replace({alias}.postcode, ' ', '')) LIKE :f_postcode")
            params["f_postcode"] = self.postcode.replace(" ", "").upper().replace("%", "") + "%"
        if self.q:
            clauses.append(f"({alias}.name ILIKE :f_q OR {alias}.postcode ILIKE :f_q)")
            params["f_q"] = "%" + self.q.replace("%", "").replace("_", "\\_") + "%"
        if self.bbox_bng:
            # Tested in the box's own CRS: its lon/lat hull would admit points outside it.
            envelope = "ST_MakeEnvelope(:bb_minx, :bb_miny, :bb_maxx, :bb_maxy, 27700)"
            clauses.append(f"{alias}.geom_bng && {envelope} AND ST_Intersects({alias}.geom_bng, {envelope})")
            params.update(zip(("bb_minx", "bb_miny", "bb_maxx", "bb_maxy"), self.bbox_bng, strict=True))
        elif self.bbox:
            # The index finds candidates by bounding box, then the exact test: numberMatched is PostGIS's count.
            envelope = "ST_MakeEnvelope(:bb_minx, :bb_miny, :bb_maxx, :bb_maxy, 4326)"
            clauses.append(f"{alias}.geom && {envelope} AND ST_Intersects({alias}.geom, {envelope})")
            params.update(zip(("bb_minx", "bb_miny", "bb_maxx", "bb_maxy"), self.bbox, strict=True))
        value = visibility.sql_column("value_gbp", viewer, alias)
        if self.min_value_gbp is not None:
            clauses.append(f"{value} >= :f_min_value")
            params["f_min_value"] = self.min_value_gbp
        if self.max_value_gbp is not None:
            clauses.append(f"{value} <= :f_max_value")
            params["f_max_value"] = self.max_value_gbp
        return " AND ".join(clauses), params


def split_values(raw: str | Sequence[str] | None) -> list[str]:
    """Query values given repeated or comma-separated, trimmed, blanks dropped."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def parse_bbox(
    raw: str | None, bbox_crs: crs_mod.Crs = crs_mod.CRS84
) -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` in ``bbox_crs`` and return it in lon/lat."""
    if raw is None or raw.strip() == "":
        return None
    try:
        numbers = [float(part) for part in raw.split(",")]
    except ValueError:
        raise ValidationFailed([FieldError("bbox", "expected four numbers: minx,miny,maxx,maxy")]) from None
    if len(numbers) == 6:  # 3D bbox: drop the heights
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise ValidationFailed([FieldError("bbox", "expected four finite numbers: minx,miny,maxx,maxy")])
    a, b, c, d = numbers
    if bbox_crs.lat_first:
        a, b, c, d = b, a, d, c
    if bbox_crs.srid == crs_mod.BNG_SRID:
        t = crs_mod.transformer(crs_mod.BNG_SRID, crs_mod.WGS84_SRID)
        # Transform the whole edge, not just corners: a BNG box is not a lon/lat box.
        minx, miny, maxx, maxy = t.transform_bounds(a, b, c, d, densify_pts=21)
        return (minx, miny, maxx, maxy)
    if not (-180 <= a <= 180 and -180 <= c <= 180 and -90 <= b <= 90 and -90 <= d <= 90):
        raise ValidationFailed(
            [FieldError("bbox", "coordinates are not degrees; for metres send bbox-crs=EPSG:27700")]
        )
    if a > c or b > d:
        raise ValidationFailed([FieldError("bbox", "min must not exceed max (minx,miny,maxx,maxy)")])
    return (a, b, c, d)


def build_filter(
    *,
    owner: str | list[str] | None = None,
    rag: str | list[str] | None = None,
    use: str | list[str] | None = None,
    town: str | None = None,
    postcode: str | None = None,
    q: str | None = None,
    bbox: str | None = None,
    bbox_crs: str | None = None,
    min_value_gbp: int | None = None,
    max_value_gbp: int | None = None,
) -> PropertyFilter:
    """Validate query parameters into a PropertyFilter, naming any bad parameter."""
    errors: list[FieldError] = []
    rags, uses = split_values(rag), split_values(use)
    bad_rag = [r for r in rags if r not in RAG_FILTER_VALUES]
    if bad_rag:
        errors.append(
            FieldError("rag", f"unknown RAG {bad_rag[0]!r}; one of {', '.join(values(Rag))}, {UNRATED}")
        )
    bad_use = [u for u in uses if u not in values(UseCategory)]
    if bad_use:
        errors.append(
            FieldError("use", f"unknown use {bad_use[0]!r}; one of {', '.join(values(UseCategory))}")
        )
    if min_value_gbp is not None and max_value_gbp is not None and min_value_gbp > max_value_gbp:
        errors.append(FieldError("min_value_gbp", "must not exceed max_value_gbp"))
    parsed_bbox = bng_bbox = None
    try:
        parsed_crs = crs_mod.parse_crs(bbox_crs)
        parsed_bbox = parse_bbox(bbox, parsed_crs)
        if parsed_bbox is not None and parsed_crs.srid == crs_mod.BNG_SRID:
            numbers = [float(v) for v in (bbox or "").split(",")]
            a, b, c, d = numbers if len(numbers) == 4 else (numbers[0], numbers[1], numbers[3], numbers[4])
            bng_bbox = (a, b, c, d)
            if a > c or b > d:
                raise ValidationFailed([FieldError("bbox", "min must not exceed max (minx,miny,maxx,maxy)")])
    except crs_mod.CrsError as exc:
        errors.append(FieldError("bbox-crs", str(exc)))
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return PropertyFilter(
        owner=split_values(owner),
        rag=rags,
        use=uses,
        town=town or None,
        postcode=postcode or None,
        q=q or None,
        bbox=parsed_bbox,
        bbox_bng=bng_bbox,
        min_value_gbp=min_value_gbp,
        max_value_gbp=max_value_gbp,
    )
