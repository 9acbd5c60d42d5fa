"""Patch tables: the spellings councils really publish, mapped onto the register's vocabularies.

Each table lists variants as people write them; lookups ignore case, spaces
and punctuation, so "Free hold", "FREEHOLD " and "freehold" need no entry.
A value that is in no table is never guessed: the importer leaves the field
empty and reports it, and the fix is a new line here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from gis.vocab import HoldingType, Tenure, TenureDetail, UseCategory


def compact(text: str) -> str:
    """Return ``text`` lower-cased with "&" read as "and" and everything but letters and digits removed."""
    return re.sub(r"[^a-z0-9]", "", text.casefold().replace("&", "and"))


@dataclass(frozen=True)
class PatchMatch:
    value: str
    patched: bool  # True when a variant spelling was read, not just a change of case or spacing


@dataclass(frozen=True)
class PatchTable:
    vocabulary: type[StrEnum]
    variants: dict[str, StrEnum]
    _index: dict[str, str] = field(init=False, repr=False, compare=False)
    _canonical: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {compact(member.value): member.value for member in self.vocabulary}
        for variant, member in self.variants.items():
            key = compact(variant)
            if index.get(key, member.value) != member.value:
                raise ValueError(f"patch {variant!r} conflicts with {index[key]!r}")
            index[key] = member.value
        object.__setattr__(self, "_index", index)
        # Keys that are the slug or the Code's wording: reading them is no patch worth a report line.
        canonical = {compact(member.value) for member in self.vocabulary}
        canonical |= {compact(text) for text in CODE_WORDING.get(self.vocabulary, {}).values()}
        object.__setattr__(self, "_canonical", frozenset(canonical))

    def lookup(self, raw: str) -> PatchMatch | None:
        """Return the vocabulary slug ``raw`` stands for, or None when it is not known."""
        key = compact(raw)
        value = self._index.get(key)
        if value is None:
            return None
        return PatchMatch(value, patched=key not in self._canonical)


# The Transparency Code's own wording for each register slug, by vocabulary
# (the same slug, "leasehold", is a tenure and a sub-category): what the
# export writes and, being in the patch tables too, what the importer reads back.
CODE_WORDING: dict[type[StrEnum], dict[str, str]] = {
    Tenure: {
        Tenure.freehold: "Freehold",
        Tenure.leasehold: "Leasehold",
        Tenure.other: "Other",
    },
    TenureDetail: {
        TenureDetail.occupied: "Occupied by local authority",
        TenureDetail.ground_leasehold: "Ground leasehold",
        TenureDetail.leasehold: "Leasehold",
        TenureDetail.sub_leasehold: "Sub-leasehold",
        TenureDetail.licence: "Licence",
        TenureDetail.vacant: "Vacant",
    },
    HoldingType: {
        HoldingType.land: "Land",
        HoldingType.building: "Building",
        HoldingType.land_and_building: "Land and building",
    },
}


def code_wording(slug: str | None, vocabulary: type[StrEnum]) -> str | None:
    """Return the Code's wording for a slug of ``vocabulary`` ("occupied" → "Occupied by local authority")."""
    if slug is None:
        return None
    return CODE_WORDING.get(vocabulary, {}).get(slug, slug.replace("_", " ").capitalize())


def _with_code_wording(vocabulary: type[StrEnum], variants: dict[str, StrEnum]) -> dict[str, StrEnum]:
    wording = {text: vocabulary(slug) for slug, text in CODE_WORDING[vocabulary].items()}
    return wording | variants


TENURE = PatchTable(
    Tenure,
    _with_code_wording(
        Tenure,
        {
            "F/H": Tenure.freehold,
            "FH": Tenure.freehold,
            "Freehold (owned)": Tenure.freehold,
            "Owned freehold": Tenure.freehold,
            "Owned": Tenure.freehold,
            "L/H": Tenure.leasehold,
            "LH": Tenure.leasehold,
            "Long Leasehold": Tenure.leasehold,
            "Long Lease": Tenure.leasehold,
            "Short Leasehold": Tenure.leasehold,
            "Short Lease": Tenure.leasehold,
            "Leased": Tenure.leasehold,
            "Leased in": Tenure.leasehold,
            "Leasehold (in)": Tenure.leasehold,
            "Lease": Tenure.leasehold,
        },
    ),
)

TENURE_DETAIL = PatchTable(
    TenureDetail,
    _with_code_wording(
        TenureDetail,
        {
            # The Code's "Occupied by local authority", as councils write it.
            "Occupied by the local authority": TenureDetail.occupied,
            "Occupied by LA": TenureDetail.occupied,
            "Occupied by the LA": TenureDetail.occupied,
            "Occupied by council": TenureDetail.occupied,
            "Occupied by the council": TenureDetail.occupied,
            "Occupied by authority": TenureDetail.occupied,
            "Local authority occupied": TenureDetail.occupied,
            "LA occupied": TenureDetail.occupied,
            "Council occupied": TenureDetail.occupied,
            "Operational": TenureDetail.occupied,
            "Owner occupied": TenureDetail.occupied,
            "In occupation": TenureDetail.occupied,
            "Ground Lease": TenureDetail.ground_leasehold,
            "Ground Leased": TenureDetail.ground_leasehold,
            "Ground Lease out": TenureDetail.ground_leasehold,
            "Ground leasehold (let)": TenureDetail.ground_leasehold,
            "Lease": TenureDetail.leasehold,
            "Leased": TenureDetail.leasehold,
            "Leased out": TenureDetail.leasehold,
            "Let": TenureDetail.leasehold,
            "Sub-lease": TenureDetail.sub_leasehold,
            "Sub leased": TenureDetail.sub_leasehold,
            "Sub-let": TenureDetail.sub_leasehold,
            "Underlease": TenureDetail.sub_leasehold,
            "License": TenureDetail.licence,
            "Licenced": TenureDetail.licence,
            "Licensed": TenureDetail.licence,
            "Licence out": TenureDetail.licence,
            "Void": TenureDetail.vacant,
            "Empty": TenureDetail.vacant,
            "Unoccupied": TenureDetail.vacant,
            "Vacant land": TenureDetail.vacant,
        },
    ),
)

HOLDING_TYPE = PatchTable(
    HoldingType,
    _with_code_wording(
        HoldingType,
        {
            "Land & Building": HoldingType.land_and_building,
            "Land and Buildings": HoldingType.land_and_building,
            "Building and Land": HoldingType.land_and_building,
            "Buildings and Land": HoldingType.land_and_building,
            "Land & Bldg": HoldingType.land_and_building,
            "Land & Bldgs": HoldingType.land_and_building,
            "L&B": HoldingType.land_and_building,
            "Bldg": HoldingType.building,
            "Bldgs": HoldingType.building,
            "Buildings": HoldingType.building,
            "Building only": HoldingType.building,
            "Land only": HoldingType.land,
            "Open land": HoldingType.land,
        },
    ),
)

# Spellings of a holding-type suffix that councils put on the end of an asset
# reference ("WY0123 Land and Building" one year, "WY0123 BLDG" the next),
# longest first so "land and buildings" is read before "buildings". They are
# one suffix for matching: a council that re-spells it still means the asset.
REF_SUFFIXES: tuple[str, ...] = (
    "land and buildings",
    "land and building",
    "land and bldgs",
    "land and bldg",
    "l and b",
    "buildings",
    "building",
    "bldgs",
    "bldg",
    "lb",
)
_REF_SUFFIX = re.compile(
    r"(?:^|[^a-z0-9])(?:"
    + "|".join(r"[^a-z0-9]*".join(map(re.escape, s.split())) for s in REF_SUFFIXES)
    + r")$"
)


def normalise_ref(ref: str) -> str:
    """Return an asset reference's matching key: case, spacing, punctuation and suffix spelling removed.

    "WY-0123 Land and Building", "wy0123 BLDG" and "WY 0123/bldg" share one key.
    """
    text = ref.casefold().replace("&", " and ").strip()
    text = re.sub(r"[^a-z0-9]+$", "", text)
    if (suffix := _REF_SUFFIX.search(text)) is not None and suffix.start() > 0:
        text = text[: suffix.start()] + " ~bldg"
    return re.sub(r"[^a-z0-9~]", "", text)


# Keyword -> use category, checked in order, first whole-word match wins. The
# order is the point: "Library Car Park" is a car park and "Town Hall" is an
# office, so those phrases come before "library" and "hall".
USE_KEYWORDS: tuple[tuple[str, UseCategory], ...] = (
    ("car park", UseCategory.other),
    ("car parks", UseCategory.other),
    ("parking", UseCategory.other),
    ("customer service", UseCategory.customer_service_centre),
    ("customer services", UseCategory.customer_service_centre),
    ("one stop shop", UseCategory.customer_service_centre),
    ("town hall", UseCategory.office),
    ("county hall", UseCategory.office),
    ("guildhall", UseCategory.office),
    ("civic centre", UseCategory.office),
    ("council house", UseCategory.office),
    ("library", UseCategory.library),
    ("libraries", UseCategory.library),
    ("school", UseCategory.school),
    ("schools", UseCategory.school),
    ("academy", UseCategory.school),
    ("police", UseCategory.police_station),
    ("fire", UseCategory.fire_station),
    ("hospital", UseCategory.hospital),
    ("health", UseCategory.health_centre),
    ("clinic", UseCategory.health_centre),
    ("crematorium", UseCategory.crematorium_cemetery),
    ("cemetery", UseCategory.crematorium_cemetery),
    ("cemeteries", UseCategory.crematorium_cemetery),
    ("burial ground", UseCategory.crematorium_cemetery),
    ("leisure", UseCategory.leisure),
    ("swimming", UseCategory.leisure),
    ("sports centre", UseCategory.leisure),
    ("community centre", UseCategory.community_centre),
    ("community hall", UseCategory.community_centre),
    ("village hall", UseCategory.community_centre),
    ("hall", UseCategory.community_centre),
    ("court", UseCategory.court),
    ("courts", UseCategory.court),
    ("jobcentre", UseCategory.jobcentre),
    ("job centre", UseCategory.jobcentre),
    ("depot", UseCategory.depot),
    ("depots", UseCategory.depot),
    ("office", UseCategory.office),
    ("offices", UseCategory.office),
    ("allotment", UseCategory.land),
    ("allotments", UseCategory.land),
    ("open space", UseCategory.land),
    ("playing field", UseCategory.land),
    ("playing fields", UseCategory.land),
)


def _words(text: str) -> str:
    return " " + " ".join(re.sub(r"[^a-z0-9]+", " ", text.casefold()).split()) + " "


def use_category_for(raw: str) -> UseCategory | None:
    """Return the use category a free-text use or asset type names, or None when no keyword matches."""
    key = compact(raw)
    for member in UseCategory:
        if key == compact(member.value):
            return member
    words = _words(raw)
    for keyword, category in USE_KEYWORDS:
        if f" {keyword} " in words:
            return category
    return None
