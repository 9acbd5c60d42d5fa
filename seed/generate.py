"""Generate the illustrative Worcestershire seed register (see seed/README.md).

Run ``python -m seed.generate`` from the repository root. It rewrites
``organisations.csv``, ``properties.csv`` and ``worcestershire_boundary.geojson``
beside this file. Every draw comes from one ``random.Random`` with a fixed
seed and nothing is read from the network, so rerunning gives byte-identical
files; ``tests/unit/test_seed_file.py`` holds it to that.

The public record supplies the shape of the estate (about 1,300 buildings
worth over £3bn across 15 bodies, the towns, the Evesham co-location finding
of the 2009-10 Total Place pilot); every individual building is invented.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Point, Polygon
from shapely.prepared import prep

from gis import rag as rag_rules
from gis import schema
from gis.vocab import (
    Condition,
    DisposalBlocker,
    DisposalStage,
    HoldingType,
    ListedGrade,
    OrganisationKind,
    Rag,
    Tenure,
    TenureDetail,
    UseCategory,
    ValuationBasis,
)

SEED = 20100331
HERE = Path(__file__).resolve().parent
ORGANISATIONS_FILE = "organisations.csv"
PROPERTIES_FILE = "properties.csv"
BOUNDARY_FILE = "worcestershire_boundary.geojson"

ORGANISATION_COLUMNS: tuple[str, ...] = ("code", "name", "kind", "gss_code")
# The record's writable fields in gis.schema order, with the point as lon/lat where the geometry sits.
PROPERTY_COLUMNS: tuple[str, ...] = tuple(
    name
    for f in schema.FIELDS
    if f.writable and f.name != "footprint"
    for name in (("lon", "lat") if f.name == "geometry" else (f.name,))
)

# Buildings are kept this far inside the county line; the test demands 300 m.
INNER_MARGIN_M = 400.0
# The Evesham co-location cluster: High Street / Abbey Road, Evesham.
EVESHAM_HUB = (-1.9475, 52.0925)
# Office-like uses a reader would confuse with the hub if they sat near it.
OFFICE_LIKE: frozenset[UseCategory] = frozenset(
    {
        UseCategory.office,
        UseCategory.customer_service_centre,
        UseCategory.jobcentre,
        UseCategory.police_station,
    }
)
HUB_CLEAR_M = 900.0
RAG_SHARE: dict[Rag, float] = {Rag.red: 0.45, Rag.amber: 0.30, Rag.green: 0.25}
VALUATION_START = date(2008, 4, 1)
VALUATION_END = date(2010, 3, 31)


# --- organisations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    code: str
    name: str
    kind: OrganisationKind
    gss_code: str = ""  # blank where the body has no GSS code we can vouch for
    ref_format: str = "{:05d}"
    ref_start: int = 1
    ref_step: int = 5


ORGANISATIONS: tuple[Organisation, ...] = (
    Organisation("worcestershire-cc", "Worcestershire County Council", OrganisationKind.county,
                 "E10000034", "WCC-{:05d}", 118, 9),
    Organisation("worcester-city", "Worcester City Council", OrganisationKind.district,
                 "E07000237", "WCITY/{:04d}", 41, 7),
    Organisation("wychavon", "Wychavon District Council", OrganisationKind.district,
                 "E07000238", "WDC-P{:04d}", 230, 11),
    Organisation("malvern-hills", "Malvern Hills District Council", OrganisationKind.district,
                 "E07000235", "MH/{:04d}", 12, 9),
    Organisation("bromsgrove", "Bromsgrove District Council", OrganisationKind.district,
                 "E07000234", "BDC{:04d}", 300, 13),
    Organisation("redditch", "Redditch Borough Council", OrganisationKind.district,
                 "E07000236", "RBC/A/{:04d}", 15, 6),
    Organisation("wyre-forest", "Wyre Forest District Council", OrganisationKind.district,
                 "E07000239", "WF-{:04d}", 102, 8),
    Organisation("west-mercia-police", "West Mercia Police", OrganisationKind.police,
                 "", "WMP/E/{:03d}", 7, 4),
    Organisation("hw-fire", "Hereford & Worcester Fire and Rescue Service", OrganisationKind.fire,
                 "", "HWFRS-{:03d}", 3, 3),
    Organisation("worcs-acute", "Worcestershire Acute Hospitals NHS Trust", OrganisationKind.nhs_trust,
                 "", "WAHT-{:03d}", 1, 4),
    Organisation("hw-health-care", "Herefordshire and Worcestershire Health and Care NHS Trust",
                 OrganisationKind.nhs_trust, "", "HWHCT/{:04d}", 20, 6),
    Organisation("hw-icb", "NHS Herefordshire and Worcestershire ICB", OrganisationKind.nhs_icb,
                 "", "ICB-{:04d}", 5, 3),
    Organisation("dwp-jcp", "Jobcentre Plus (Department for Work and Pensions)",
                 OrganisationKind.central_government, "", "P/{:04d}", 410, 37),
    Organisation("hmcts", "HM Courts & Tribunals Service", OrganisationKind.central_government,
                 "", "CT{:05d}", 2210, 41),
    Organisation("central-gov-other", "Other central government (HMRC, Environment Agency and others)",
                 OrganisationKind.central_government, "", "EPIMS-{:06d}", 120400, 900),
)  # fmt: skip


# --- the county outline ----------------------------------------------------------------------

# Hand-simplified from the ceremonial county's line (1998 on), clockwise from
# Upper Arley; it encloses about 1,800 km² against a true 1,741 km², and sits
# within about a kilometre of the real boundary. Written out anticlockwise.
BOUNDARY_CLOCKWISE: tuple[tuple[float, float], ...] = (
    (-2.365, 52.437), (-2.300, 52.435), (-2.262, 52.433), (-2.225, 52.435),  # Staffordshire
    (-2.185, 52.432), (-2.150, 52.440), (-2.115, 52.437), (-2.080, 52.433),  # Dudley
    (-2.045, 52.430), (-2.010, 52.420), (-1.995, 52.398), (-1.960, 52.385),  # Birmingham
    (-1.920, 52.393), (-1.870, 52.398), (-1.842, 52.392),  # Solihull
    (-1.855, 52.365), (-1.870, 52.338), (-1.875, 52.305), (-1.910, 52.275),  # Warwickshire
    (-1.912, 52.240), (-1.920, 52.205), (-1.910, 52.170), (-1.860, 52.145),
    (-1.815, 52.128), (-1.785, 52.112),
    (-1.805, 52.090), (-1.835, 52.075), (-1.845, 52.055), (-1.822, 52.028),  # Gloucestershire
    (-1.850, 52.003), (-1.885, 52.022), (-1.925, 52.033), (-1.965, 52.032),
    (-2.010, 52.020), (-2.050, 52.010), (-2.095, 52.010), (-2.140, 52.010),
    (-2.175, 52.030), (-2.220, 52.010), (-2.250, 51.985), (-2.290, 51.978),
    (-2.315, 51.995), (-2.336, 52.006),
    (-2.350, 52.045), (-2.347, 52.075), (-2.355, 52.102), (-2.350, 52.128),  # Herefordshire
    (-2.380, 52.140), (-2.410, 52.150), (-2.435, 52.180), (-2.425, 52.215),
    (-2.470, 52.238), (-2.520, 52.235), (-2.565, 52.248), (-2.605, 52.272),
    (-2.620, 52.298), (-2.615, 52.313),
    (-2.585, 52.3165), (-2.535, 52.328), (-2.495, 52.348), (-2.455, 52.372),  # Shropshire
    (-2.405, 52.393), (-2.380, 52.418),
)  # fmt: skip


def boundary_ring() -> list[tuple[float, float]]:
    """The outline as a closed, anticlockwise ring (RFC 7946 exterior ring order)."""
    ring = list(reversed(BOUNDARY_CLOCKWISE))
    return [*ring, ring[0]]


class Geo:
    """Conversions between WGS84 and British National Grid, and the inside-the-county test."""

    def __init__(self) -> None:
        self._to_bng = Transformer.from_crs(4326, 27700, always_xy=True)
        self._to_wgs = Transformer.from_crs(27700, 4326, always_xy=True)
        county = shapely.transform(Polygon(boundary_ring()), self._project)
        self._inner = prep(county.buffer(-INNER_MARGIN_M))
        self.hub = self.to_bng(*EVESHAM_HUB)

    def _project(self, coords: np.ndarray) -> np.ndarray:
        x, y = self._to_bng.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def to_bng(self, lon: float, lat: float) -> tuple[float, float]:
        return self._to_bng.transform(lon, lat)

    def to_wgs(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self._to_wgs.transform(x, y)
        return round(lon, 6), round(lat, 6)

    def well_inside(self, lon: float, lat: float) -> bool:
        return self._inner.contains(Point(self.to_bng(lon, lat)))

    def metres_from_hub(self, lon: float, lat: float) -> float:
        x, y = self.to_bng(lon, lat)
        return math.hypot(x - self.hub[0], y - self.hub[1])


# --- places ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float
    weight: float  # share of buildings, roughly by population
    radius_km: float  # how far buildings spread from the centre
    district: str  # organisation code of the district council
    post_town: str
    outward: tuple[str, ...]
    streets: tuple[str, ...]
    areas: tuple[str, ...] = ()

    @property
    def is_village(self) -> bool:
        return not self.areas


PLACES: tuple[Place, ...] = (
    Place("Worcester", 52.1920, -2.2200, 26, 2.5, "worcester-city", "Worcester",
          ("WR1", "WR2", "WR3", "WR4", "WR5"),
          ("Foregate Street", "The Tything", "High Street", "Sansome Walk", "London Road", "Bath Road",
           "Ombersley Road", "Droitwich Road", "Newtown Road", "Spetchley Road", "Bromyard Road",
           "Henwick Road", "Tolladine Road", "Bilford Road", "Barbourne Road", "Sidbury", "Friar Street",
           "Castle Street", "Deansway", "Lowesmoor", "Malvern Road", "Bransford Road", "Canterbury Road"),
          ("St John's", "Warndon", "Ronkswood", "Dines Green", "Barbourne", "Claines", "St Peter's",
           "Battenhall", "Cherry Orchard", "Lower Wick", "Tolladine", "Gorse Hill", "Brickfields",
           "Blackpole", "Rainbow Hill", "Nunnery Wood", "Perdiswell", "Northwick", "Red Hill", "Diglis",
           "Arboretum", "Elbury Park", "Merrimans Hill", "Warndon Villages")),
    Place("Kidderminster", 52.3880, -2.2490, 14, 2.2, "wyre-forest", "Kidderminster", ("DY10", "DY11"),
          ("Worcester Street", "Vicar Street", "Comberton Road", "Stourport Road", "Birmingham Road",
           "Chester Road North", "Chester Road South", "Bewdley Road", "Franchise Street", "Hoo Road",
           "Park Street", "Mill Street", "Castle Road", "Oxford Street", "Coventry Street", "Hurcott Road",
           "Sutton Park Road", "Marlpool Lane", "Offmore Road", "Habberley Road"),
          ("Franche", "Habberley", "Offmore", "Comberton", "Spennells", "Foley Park", "Broadwaters",
           "Aggborough", "Hurcott", "Horsefair", "Greenhill", "Sutton Farm", "Blakebrook")),
    Place("Redditch", 52.3050, -1.9450, 18, 2.3, "redditch", "Redditch", ("B97", "B98"),
          ("Alcester Street", "Church Road", "Evesham Road", "Birchfield Road", "Plymouth Road",
           "Bromsgrove Road", "Ipsley Street", "Windsor Road", "Easemore Road", "Studley Road",
           "Unicorn Hill", "Prospect Hill", "Middlehouse Lane", "Moons Moat Drive", "Coldfield Drive",
           "Woodrow Drive", "Ravensbank Drive", "Hewell Road", "Icknield Street Drive"),
          ("Matchborough", "Winyates", "Church Hill", "Woodrow", "Batchley", "Headless Cross",
           "Crabbs Cross", "Lodge Park", "Greenlands", "Abbeydale", "Oakenshaw", "Webheath", "Smallwood",
           "Enfield", "Southcrest", "Brockhill", "Riverside", "Lakeside", "Ipsley", "Walkwood", "Hunt End")),
    Place("Bromsgrove", 52.3350, -2.0610, 9, 1.6, "bromsgrove", "Bromsgrove", ("B60", "B61"),
          ("High Street", "Worcester Road", "Birmingham Road", "Stratford Road", "Kidderminster Road",
           "Market Street", "Parkside", "Stourbridge Road", "Charford Road", "Burcot Lane", "New Road",
           "St John Street", "Aston Road", "Hanover Street", "Church Street"),
          ("Charford", "Sidemoor", "Aston Fields", "Lickey End", "Marlbrook", "Blackwell", "Finstall",
           "Stoke Heath", "Rock Hill", "Perryfields", "Whitford")),
    Place("Malvern", 52.1150, -2.3150, 8, 1.6, "malvern-hills", "Malvern", ("WR13", "WR14"),
          ("Graham Road", "Church Street", "Worcester Road", "Belle Vue Terrace", "Albert Road North",
           "Pickersleigh Road", "Court Road", "Barnards Green Road", "Avenue Road", "Priory Road",
           "Madresfield Road", "Wells Road", "Cowleigh Road", "Lower Howsell Road", "Victoria Road"),
          ("Malvern Link", "Barnards Green", "Pickersleigh", "Poolbrook", "Malvern Wells", "West Malvern",
           "North Malvern", "Great Malvern", "Sherrards Green", "Link Top")),
    Place("Evesham", 52.0925, -1.9475, 7, 1.5, "wychavon", "Evesham", ("WR11",),
          ("High Street", "Abbey Road", "Vine Street", "Port Street", "Bridge Street", "Cheltenham Road",
           "Worcester Road", "Merstow Green", "Four Pools Road", "Davies Road", "Waterside", "Oat Street",
           "Swan Lane", "Greenhill", "Pershore Road", "Broadway Road", "Elm Road", "Kings Road"),
          ("Bengeworth", "Hampton", "Greenhill", "Four Pools", "Evesham", "Abbey")),
    Place("Droitwich Spa", 52.2670, -2.1530, 7, 1.5, "wychavon", "Droitwich", ("WR9",),
          ("Victoria Square", "Ombersley Street East", "Friar Street", "Worcester Road", "Hanbury Road",
           "Salwarpe Road", "Tagwell Road", "Briar Mill", "Ombersley Way", "Kidderminster Road",
           "Vines Lane", "Chawson Lane"),
          ("Westlands", "Chawson", "Witton", "St Peter's", "Dodderhill", "Copcut", "Droitwich")),
    Place("Pershore", 52.1110, -2.0760, 3, 1.0, "wychavon", "Pershore", ("WR10",),
          ("Broad Street", "High Street", "Bridge Street", "Head Street", "Station Road", "Defford Road",
           "Wyre Road", "Three Springs Road", "Queen Elizabeth Drive", "Priest Lane"),
          ("Holy Cross", "Pinvin", "Newlands", "Abbey", "Pershore")),
    Place("Stourport-on-Severn", 52.3400, -2.2800, 5, 1.2, "wyre-forest", "Stourport-on-Severn", ("DY13",),
          ("High Street", "Lombard Street", "Vale Road", "Minster Road", "Worcester Road", "Hartlebury Road",
           "Bewdley Road", "York Street", "New Street", "Mitton Street", "Lickhill Road"),
          ("Areley Kings", "Burlish", "Lickhill", "Mitton", "The Walshes", "Stourport")),
    Place("Bewdley", 52.3760, -2.3170, 3, 0.9, "wyre-forest", "Bewdley", ("DY12",),
          ("Load Street", "High Street", "Welch Gate", "Kidderminster Road", "Stourport Road", "Dog Lane",
           "Lax Lane", "Severnside North", "Cleobury Road", "Park Lane"),
          ("Wribbenhall", "Bewdley", "Catchem's End")),
    Place("Tenbury Wells", 52.3080, -2.5930, 1.5, 0.6, "malvern-hills", "Tenbury Wells", ("WR15",),
          ("Teme Street", "Market Street", "Cross Street", "Berrington Road", "Bromyard Road",
           "Church Street", "Worcester Road"),
          ("Tenbury",)),
    Place("Upton-upon-Severn", 52.0630, -2.2150, 1.2, 0.6, "malvern-hills", "Worcester", ("WR8",),
          ("High Street", "Old Street", "New Street", "School Lane", "Tunnel Hill", "Hanley Road",
           "Church Street", "Rectory Road"),
          ("Upton",)),
    Place("Broadway", 52.0370, -1.8600, 1.2, 0.5, "wychavon", "Broadway", ("WR12",),
          ("High Street", "Leamington Road", "Station Road", "Church Street", "Back Lane", "Snowshill Road")),
    Place("Ombersley", 52.2700, -2.2290, 0.6, 0.4, "wychavon", "Droitwich", ("WR9",),
          ("Main Road", "Church Lane", "Woodfield Lane", "Holt Fleet Road")),
    Place("Inkberrow", 52.2130, -1.9800, 0.7, 0.4, "wychavon", "Worcester", ("WR7",),
          ("High Street", "Stonepit Lane", "Appletree Lane", "The Green")),
    Place("Bredon", 52.0310, -2.1150, 0.7, 0.4, "wychavon", "Tewkesbury", ("GL20",),
          ("Main Road", "Church Street", "Kemerton Road", "Eckington Road")),
    Place("Badsey", 52.0880, -1.9000, 0.7, 0.4, "wychavon", "Evesham", ("WR11",),
          ("High Street", "Chapel Street", "Willersey Road", "Bretforton Road")),
    Place("Feckenham", 52.2510, -1.9920, 0.4, 0.3, "wychavon", "Redditch", ("B96",),
          ("High Street", "Droitwich Road", "Alcester Road", "The Square")),
    Place("Hartlebury", 52.3330, -2.2300, 0.7, 0.4, "wychavon", "Kidderminster", ("DY11",),
          ("Quarry Bank", "Inn Lane", "Waresley Court Road", "Station Road")),
    Place("Hagley", 52.4240, -2.1360, 1.2, 0.5, "bromsgrove", "Stourbridge", ("DY9",),
          ("Worcester Road", "Hall Lane", "Park Road", "Church Street", "Newfield Road")),
    Place("Alvechurch", 52.3520, -1.9640, 1.0, 0.5, "bromsgrove", "Birmingham", ("B48",),
          ("Bear Hill", "Red Lion Street", "Tanyard Lane", "Station Road", "Birmingham Road")),
    Place("Catshill", 52.3600, -2.0500, 1.0, 0.5, "bromsgrove", "Bromsgrove", ("B61",),
          ("Golden Cross Lane", "Stourbridge Road", "Woodrow Lane", "Meadow Road")),
    Place("Cookley", 52.4170, -2.2380, 0.7, 0.4, "wyre-forest", "Kidderminster", ("DY10",),
          ("Lea Lane", "Bridge Road", "Castle Road", "Caunsall Road")),
    Place("Astwood Bank", 52.2540, -1.9380, 0.8, 0.4, "redditch", "Redditch", ("B96",),
          ("Evesham Road", "Church Road", "Chapel Street", "Dark Lane")),
    Place("Martley", 52.2400, -2.3580, 0.5, 0.4, "malvern-hills", "Worcester", ("WR6",),
          ("Main Road", "Hockhams Lane", "Church Lane", "Pudford Lane")),
    Place("Kempsey", 52.1410, -2.2170, 0.8, 0.4, "malvern-hills", "Worcester", ("WR5",),
          ("Main Road", "Post Office Lane", "Church Street", "Brookend Lane")),
    Place("Powick", 52.1620, -2.2470, 0.5, 0.3, "malvern-hills", "Worcester", ("WR2",),
          ("Malvern Road", "Church Street", "Old Road", "Brookside")),
    Place("Hanley Swan", 52.0770, -2.2700, 0.4, 0.3, "malvern-hills", "Worcester", ("WR8",),
          ("Gloucester Road", "Roberts End", "Picken End", "Worcester Road")),
    Place("Great Witley", 52.2850, -2.3600, 0.3, 0.3, "malvern-hills", "Worcester", ("WR6",),
          ("Worcester Road", "Stourport Road", "Church Lane")),
)  # fmt: skip
PLACE_BY_NAME: dict[str, Place] = {place.name: place for place in PLACES}
TOWNS: tuple[str, ...] = tuple(place.name for place in PLACES if not place.is_village)
VILLAGES: tuple[str, ...] = tuple(place.name for place in PLACES if place.is_village)
BIG_TOWNS: tuple[str, ...] = (
    "Worcester", "Kidderminster", "Redditch", "Bromsgrove", "Malvern", "Evesham", "Droitwich Spa",
)  # fmt: skip
# Farms and spare land sit round the villages and the market towns of the vales.
RURAL: tuple[str, ...] = (*VILLAGES, "Pershore", "Tenbury Wells", "Upton-upon-Severn", "Bewdley", "Evesham")
MAX_WEIGHT = max(place.weight for place in PLACES)

HOUSE_WORDS: tuple[str, ...] = (
    "Abbey", "Riverside", "Severn", "Avon", "Teme", "Elgar", "Orchard", "Kingfisher", "Meadow", "Priory",
    "Station", "Crown", "Castle", "Wyre", "Brook", "Willow", "Cedar", "Beech", "Foley", "Kings", "Hanbury",
    "Lychgate", "Sabrina", "Bredon", "Lickey", "Clent", "Salwarpe", "Arrow", "Stour", "Croome", "Witley",
    "Heron", "Swan", "Mill", "Bridge", "Market", "Chapel", "Manor", "Grange", "Oldbury", "Holly", "Hawthorn",
)  # fmt: skip
FARM_WORDS: tuple[str, ...] = (
    "Home", "Manor", "Church", "Lower", "Upper", "Hill", "Brook", "Grange", "Moat", "Oak Tree", "Ash", "Elm",
    "Lodge", "Court", "Park", "Mill", "Green", "Field", "Hollow", "Broad", "Cross", "Pool", "Heath", "Wood",
    "Yew Tree", "Orchard", "Hopyard", "Perry", "Cider Mill", "Lower House", "Upper House", "Mount", "Priors",
    "Poplars", "Willows", "Causeway", "Bank", "Coppice", "Hill Top", "Vale", "Nash", "Knoll",
)  # fmt: skip
SAINTS: tuple[str, ...] = (
    "Joseph", "Mary", "George", "Ambrose", "Bede", "Peter", "Wulstan", "Egwin", "Oswald", "Barnabas",
    "Matthias", "Nicholas", "Andrew", "John", "Richard", "Catherine", "Clement", "Bartholomew",
)  # fmt: skip


# --- kinds of building -----------------------------------------------------------------------

Range = tuple[float, float]


@dataclass(frozen=True)
class Kind:
    """A type of holding: what it is called, how big it tends to be and what it is worth."""

    use: UseCategory
    noun: str
    names: tuple[str, ...]  # templates over {place}, {area}, {street}, {word}, {farm}, {saint}
    gia: Range | None = None  # m²; None for bare land
    rate: Range = (0, 0)  # £ per m² of GIA, or £ per hectare for bare land
    site_ha: Range = (0.05, 0.5)
    land_rate: Range = (0, 0)  # £/ha on top, where a cheap building stands on valuable land
    m2_per_fte: Range | None = None  # None: nobody works there
    util: Range | None = (72, 15)  # mean and spread of utilisation; None for land
    running: Range = (50, 100)  # £ a year per m² (or per hectare for land)
    site_running: Range = (0, 0)  # £ a year per hectare of grounds
    basis: ValuationBasis = ValuationBasis.euv
    operational: bool = False  # an emergency or statutory service that cannot move
    sensitive: bool = False
    listed_chance: float = 0.04
    vacant_chance: float = 0.04
    leasehold_chance: float = 0.08
    disposability: float = 0.5  # prior for the RAG ranking: higher is easier to let go
    size_by_place: bool = False  # bigger towns get the bigger ones
    rural: bool = False  # spread round the outskirts rather than the centre
    topic: str = ""  # for land: which set of reasons in LAND_REASONS fits it

    @property
    def is_land(self) -> bool:
        return self.gia is None

    @property
    def on_the_edge(self) -> bool:
        """Land, depots and cemeteries sit towards the edge of town, not on the high street."""
        return self.is_land or self.use in (UseCategory.depot, UseCategory.crematorium_cemetery)


U = UseCategory
DRC, EUV, MV = ValuationBasis.drc, ValuationBasis.euv, ValuationBasis.mv
_school = {"use": U.school, "noun": "school", "rate": (1400, 2100), "m2_per_fte": (35, 60),
           "util": (86, 10), "running": (35, 60), "basis": DRC, "listed_chance": 0.03,
           "vacant_chance": 0.01, "leasehold_chance": 0.0, "disposability": 0.1}  # fmt: skip
_office = {"use": U.office, "noun": "office", "rate": (1400, 3000), "site_ha": (0.05, 0.6),
           "m2_per_fte": (10, 18), "util": (70, 16), "running": (70, 150), "listed_chance": 0.06,
           "vacant_chance": 0.06, "leasehold_chance": 0.2, "disposability": 0.55}  # fmt: skip
_land = {"use": U.land, "util": None, "basis": MV, "listed_chance": 0.0, "leasehold_chance": 0.02}
_community = {"use": U.community_centre, "noun": "community centre", "gia": (150, 900),
              "rate": (900, 1800), "site_ha": (0.05, 0.4), "m2_per_fte": (40, 120), "util": (64, 18),
              "running": (45, 90), "vacant_chance": 0.07, "leasehold_chance": 0.1}  # fmt: skip
_depot = {"use": U.depot, "noun": "depot", "gia": (400, 3500), "rate": (450, 900), "site_ha": (0.4, 3.0),
          "land_rate": (150_000, 450_000), "m2_per_fte": (40, 120), "util": (76, 14), "running": (25, 55),
          "vacant_chance": 0.06}  # fmt: skip
_health = {"use": U.health_centre, "noun": "health centre", "gia": (300, 2500), "rate": (1700, 2900),
           "site_ha": (0.1, 0.6), "m2_per_fte": (25, 50), "util": (72, 14), "running": (90, 160),
           "leasehold_chance": 0.2, "disposability": 0.35}  # fmt: skip

KINDS: dict[str, Kind] = {
    # Worcestershire County Council
    "primary_school": Kind(**_school, names=(
        "{area} Primary School", "{area} CE Primary School", "{area} First School", "{area} Infant School",
        "{area} Junior School", "{area} CE First School", "St {saint}'s RC Primary School"),
        gia=(1600, 3000), site_ha=(0.8, 2.5)),
    "middle_school": Kind(**_school, names=("{area} Middle School", "{area} CE Middle School"),
                          gia=(2600, 4800), site_ha=(1.8, 4.5)),
    "high_school": Kind(**_school, names=("{area} High School", "{place} High School",
                                          "{area} Community High School"),
                        gia=(5000, 8000), site_ha=(4.0, 10.0)),
    "special_school": Kind(**_school, names=("{word} School",), gia=(1500, 3200), site_ha=(0.8, 2.5)),
    "library": Kind(U.library, "library", ("{place} Library",), gia=(300, 1500), rate=(1100, 2200),
                    site_ha=(0.05, 0.35), m2_per_fte=(70, 140), util=(70, 15), running=(60, 110),
                    listed_chance=0.08, disposability=0.35, size_by_place=True),
    "branch_library": Kind(U.library, "library", ("{area} Library",), gia=(250, 600), rate=(1000, 1900),
                           site_ha=(0.04, 0.2), m2_per_fte=(70, 140), util=(62, 16), running=(60, 110),
                           disposability=0.45),
    "county_office": Kind(**_office, names=("{word} House", "{place} Area Office",
                                            "County Council Offices, {street}", "{place} Social Care Office"),
                          gia=(300, 5000)),
    "customer_service_centre": Kind(
        U.customer_service_centre, "customer service centre", ("{place} Hub Customer Service Centre",),
        gia=(200, 900), rate=(1300, 2400), site_ha=(0.03, 0.2), m2_per_fte=(14, 25), util=(68, 15),
        running=(80, 140), leasehold_chance=0.35, disposability=0.45, size_by_place=True),
    "county_depot": Kind(**_depot, names=("{place} Highways Depot", "{place} Depot", "{place} Salt Barn")),
    "county_community": Kind(**_community, disposability=0.55, names=(
        "{area} Community Centre", "{area} Youth Centre", "{area} Children's Centre", "{area} Day Centre",
        "{area} Family Centre", "{area} Resource Centre")),
    "county_farm": Kind(**_land, noun="farm", names=("{farm} Farm, {place}", "Land at {farm} Farm, {place}"),
                        rate=(14_000, 26_000), site_ha=(4, 60), running=(15, 60), vacant_chance=0.03,
                        disposability=0.6, rural=True, topic="farm"),
    "county_land": Kind(**_land, noun="site", names=(
        "Land at {street}, {place}", "Former school playing field, {area}", "Surplus land, {street}, {place}",
        "Amenity land, {street}, {place}"),
        rate=(40_000, 900_000), site_ha=(0.1, 5), running=(50, 400), vacant_chance=0.15, disposability=0.8,
        topic="site"),
    "country_park": Kind(**_land, noun="country park", names=("{place} Country Park",), rate=(10_000, 25_000),
                         site_ha=(20, 60), running=(300, 600), vacant_chance=0.0, disposability=0.0,
                         topic="park"),
    "childrens_home": Kind(U.other, "children's home", ("Children's Home, {area}",), gia=(250, 600),
                           rate=(1300, 2100), site_ha=(0.05, 0.3), m2_per_fte=(12, 25), util=(80, 12),
                           running=(80, 140), sensitive=True, vacant_chance=0.02, disposability=0.2),
    "refuge": Kind(U.other, "refuge", ("Refuge, {area}",), gia=(200, 500), rate=(1200, 1900),
                   site_ha=(0.03, 0.15), m2_per_fte=(40, 80), util=(88, 8), running=(60, 110),
                   sensitive=True, vacant_chance=0.0, leasehold_chance=0.3, disposability=0.1),
    "adult_education": Kind(U.other, "adult education centre", ("{place} Adult Education Centre",),
                            gia=(400, 1500), rate=(1100, 1900), site_ha=(0.1, 0.5), m2_per_fte=(40, 80),
                            util=(58, 16), running=(50, 90), disposability=0.55),
    "outdoor_centre": Kind(U.other, "outdoor education centre", ("{word} Outdoor Education Centre",),
                           gia=(400, 1500), rate=(900, 1600), site_ha=(2, 12), land_rate=(10_000, 25_000),
                           m2_per_fte=(50, 100), util=(60, 15), running=(40, 80), disposability=0.6),
    "care_home": Kind(U.other, "care home", ("{word} House Residential Home", "{word} Lodge Care Home"),
                      gia=(900, 2500), rate=(1300, 2000), site_ha=(0.3, 1.0), m2_per_fte=(25, 45),
                      util=(75, 14), running=(70, 120), disposability=0.55),
    # district councils
    "district_office": Kind(**_office, names=("{word} House", "{place} Council Offices",
                                              "{place} Area Office",
                                              "{place} Housing Office"),
                            gia=(200, 2500)),
    "leisure_centre": Kind(U.leisure, "leisure centre", ("{place} Leisure Centre", "{place} Swimming Pool",
                                                         "{area} Sports Centre"),
                           gia=(1500, 6000), rate=(1400, 2400), site_ha=(0.6, 3.0), m2_per_fte=(60, 120),
                           util=(74, 14), running=(90, 170), disposability=0.3, size_by_place=True),
    "pavilion": Kind(U.leisure, "pavilion", ("{area} Sports Pavilion", "{area} Bowls Pavilion"),
                     gia=(80, 400), rate=(900, 1500), site_ha=(0.02, 0.1), util=(52, 20), running=(30, 60),
                     vacant_chance=0.08, disposability=0.6),
    "district_depot": Kind(**_depot, names=("{place} Depot", "{place} Waste and Recycling Depot",
                                            "{place} Parks Depot")),
    "crematorium": Kind(U.crematorium_cemetery, "crematorium", ("{place} Crematorium",), gia=(400, 900),
                        rate=(2000, 3200), site_ha=(3, 10), land_rate=(20_000, 50_000), m2_per_fte=(40, 80),
                        util=(80, 10), running=(120, 220), site_running=(1500, 3000), basis=DRC,
                        operational=True, vacant_chance=0.0, leasehold_chance=0.0, disposability=0.0),
    "cemetery": Kind(U.crematorium_cemetery, "cemetery", ("{place} Cemetery", "{area} Cemetery"),
                     gia=(40, 250), rate=(1500, 2800), site_ha=(1, 8), land_rate=(15_000, 40_000),
                     util=(70, 15), running=(30, 60), site_running=(800, 2000), basis=DRC, operational=True,
                     vacant_chance=0.0, leasehold_chance=0.0, disposability=0.0),
    "district_community": Kind(**_community, disposability=0.5, names=(
        "{area} Community Centre", "{area} Community Hall", "{area} Neighbourhood Centre")),
    "open_space": Kind(**_land, noun="open space", names=(
        "{area} Playing Fields", "{area} Allotments", "{area} Park", "{area} Open Space",
        "{area} Local Nature Reserve"),
        rate=(15_000, 80_000), site_ha=(0.5, 12), running=(800, 2500), vacant_chance=0.0,
        disposability=0.45, topic="open_space"),
    "district_site": Kind(**_land, noun="site",
                          names=("Land at {street}, {place}", "Surplus land, {street}, {place}"),
                          rate=(100_000, 900_000), site_ha=(0.1, 4), running=(50, 400), vacant_chance=0.15,
                          disposability=0.75, topic="site"),
    "car_park": Kind(**_land, noun="car park", names=("{street} Car Park, {place}",),
                     rate=(300_000, 1_200_000),
                     site_ha=(0.1, 1.2), running=(2000, 6000), vacant_chance=0.0, disposability=0.45,
                     topic="car_park"),
    # investment property let to others, so valued at fair value
    "commercial": Kind(U.other, "commercial property", (
        "{street} Workshops, {place}", "{area} Shopping Parade", "{street} Industrial Units, {place}",
        "{word} Business Centre"),
        gia=(300, 3000), rate=(500, 1200), site_ha=(0.1, 1.0), util=(85, 10), running=(5, 15),
        basis=ValuationBasis.fair_value, listed_chance=0.0, vacant_chance=0.08, disposability=0.7),
    "public_toilets": Kind(U.other, "toilet block", ("{place} Public Conveniences, {street}",), gia=(20, 80),
                           rate=(900, 1600), site_ha=(0.01, 0.03), util=(60, 20), running=(150, 400),
                           vacant_chance=0.1, listed_chance=0.0, leasehold_chance=0.0, disposability=0.7),
    "museum": Kind(U.other, "museum", ("{place} Museum",), gia=(300, 2000), rate=(1200, 2200),
                   site_ha=(0.05, 0.4), m2_per_fte=(60, 120), util=(60, 15), running=(70, 130),
                   listed_chance=0.6, disposability=0.35),
    "theatre": Kind(U.other, "theatre", ("{place} Theatre",), gia=(1500, 5000), rate=(1300, 2200),
                    site_ha=(0.2, 0.8), m2_per_fte=(60, 120), util=(70, 12), running=(80, 140),
                    disposability=0.2),
    "market_hall": Kind(U.other, "market hall", ("{place} Market Hall",), gia=(300, 1500), rate=(900, 1800),
                        site_ha=(0.05, 0.3), m2_per_fte=(100, 300), util=(55, 18), running=(40, 80),
                        listed_chance=0.3, disposability=0.55),
    "tourist_information": Kind(U.other, "information centre", ("{place} Tourist Information Centre",),
                                gia=(60, 200), rate=(1500, 2500), site_ha=(0.01, 0.05), m2_per_fte=(20, 40),
                                util=(60, 15), running=(90, 150), leasehold_chance=0.3, disposability=0.6),
    "sheltered_housing": Kind(U.other, "sheltered housing scheme", ("{word} Court", "{word} Close"),
                              gia=(800, 2500), rate=(900, 1500), site_ha=(0.2, 0.8), util=(88, 8),
                              running=(20, 40), disposability=0.15),
    # police
    "police_station": Kind(U.police_station, "police station", ("{place} Police Station",), gia=(300, 3500),
                           rate=(1400, 2500), site_ha=(0.1, 0.8), m2_per_fte=(12, 25), util=(80, 12),
                           running=(90, 160), basis=DRC, operational=True, vacant_chance=0.0,
                           leasehold_chance=0.05, size_by_place=True),
    "custody_suite": Kind(U.police_station, "custody suite", ("{place} Custody Suite",), gia=(800, 2000),
                          rate=(2000, 3000), site_ha=(0.1, 0.4), m2_per_fte=(20, 40), util=(85, 8),
                          running=(150, 260), basis=DRC, operational=True, sensitive=True, vacant_chance=0.0,
                          leasehold_chance=0.0),
    "police_office": Kind(**{**_office, "disposability": 0.5},
                          names=("{place} Police Office", "{place} Safer Neighbourhood Base", "{word} House"),
                          gia=(150, 1500)),
    "police_house": Kind(U.other, "police house", ("Police House, {place}",), gia=(90, 140),
                         rate=(1600, 2400),
                         site_ha=(0.03, 0.08), util=(85, 10), running=(20, 35), vacant_chance=0.15,
                         listed_chance=0.0, leasehold_chance=0.0, disposability=0.8),
    "police_workshop": Kind(U.other, "vehicle workshop", ("Police Vehicle Workshop, {place}",),
                            gia=(600, 1500), rate=(600, 1000), site_ha=(0.3, 1.0),
                            land_rate=(150_000, 400_000),
                            m2_per_fte=(40, 80), util=(80, 10), running=(40, 70)),
    # fire
    "fire_station": Kind(U.fire_station, "fire station", ("{place} Fire Station",), gia=(450, 2000),
                         rate=(1300, 2400), site_ha=(0.2, 0.8), m2_per_fte=(25, 50), util=(78, 12),
                         running=(70, 130), basis=DRC, operational=True, vacant_chance=0.0,
                         leasehold_chance=0.0, size_by_place=True),
    "fire_office": Kind(**_office, names=("{place} Fire Safety Office", "{word} House"), gia=(150, 800)),
    "fire_other": Kind(U.other, "training centre",
                       ("Fire Training Centre, {place}", "Fleet Workshops, {place}"),
                       gia=(600, 2500), rate=(900, 1600), site_ha=(0.5, 2.0), m2_per_fte=(40, 90),
                       util=(70, 12), running=(50, 90), disposability=0.3),
    # NHS
    "acute_hospital": Kind(U.hospital, "hospital", ("{place} Hospital",), gia=(20_000, 90_000),
                           rate=(2200, 3100), site_ha=(8, 25), m2_per_fte=(14, 22), util=(90, 5),
                           running=(180, 300), basis=DRC, operational=True, vacant_chance=0.0,
                           leasehold_chance=0.0, listed_chance=0.0),
    # Community hospitals are real hospitals but far smaller than the acute sites.
    "community_hospital": Kind(U.hospital, "community hospital", ("{place} Community Hospital",),
                               gia=(2000, 7000), rate=(1800, 2600), site_ha=(0.8, 3.0), m2_per_fte=(25, 45),
                               util=(82, 8), running=(130, 220), basis=DRC, operational=True,
                               vacant_chance=0.0, leasehold_chance=0.0),
    "acute_office": Kind(**_office, names=("{word} House", "Trust Offices, {place}"), gia=(300, 2500)),
    "staff_residence": Kind(U.other, "staff residence", ("Staff Residences, {place}",), gia=(800, 3000),
                            rate=(900, 1500), site_ha=(0.2, 0.8), util=(70, 15), running=(30, 55),
                            disposability=0.7),
    "health_centre": Kind(**_health, names=("{area} Health Centre", "{area} Clinic", "{place} Health Centre",
                                            "{area} Medical Centre")),
    "mental_health_unit": Kind(U.other, "inpatient unit", (
        "Mental Health Inpatient Unit, {place}", "Learning Disability Unit, {place}",
        "Assessment and Treatment Unit, {place}"),
        gia=(800, 3000), rate=(1800, 2600), site_ha=(0.3, 1.2), m2_per_fte=(20, 40), util=(85, 8),
        running=(120, 200), basis=DRC, sensitive=True, vacant_chance=0.0, leasehold_chance=0.0,
        disposability=0.15),
    "child_development": Kind(U.other, "child development centre", ("{place} Child Development Centre",),
                              gia=(300, 1000), rate=(1400, 2400), site_ha=(0.05, 0.3), m2_per_fte=(25, 50),
                              util=(70, 14), running=(80, 140), disposability=0.35),
    "trust_office": Kind(**_office, names=("{word} House", "Trust Offices, {place}",
                                           "{place} Community Mental Health Team Base"), gia=(200, 2000)),
    "primary_care_centre": Kind(**{**_health, "leasehold_chance": 0.3}, names=(
        "{place} Primary Care Centre", "{area} Health Centre", "{area} Surgery")),
    "icb_office": Kind(**{**_office, "leasehold_chance": 0.6},
                       names=("{word} House", "Primary Care Offices, {place}"),
                       gia=(200, 1500)),
    # central government
    "jobcentre": Kind(U.jobcentre, "jobcentre", ("{place} Jobcentre Plus",), gia=(300, 1500),
                      rate=(1300, 2400),
                      site_ha=(0.05, 0.2), m2_per_fte=(12, 20), util=(74, 12), running=(110, 180),
                      vacant_chance=0.0, leasehold_chance=1.0, disposability=0.45, size_by_place=True),
    "dwp_office": Kind(**{**_office, "leasehold_chance": 1.0}, names=(
        "DWP Benefit Delivery Centre, {place}", "DWP Office, {place}"), gia=(800, 5000)),
    "court": Kind(U.court, "court", ("{place} Magistrates' Court",), gia=(900, 5000), rate=(1800, 3000),
                  site_ha=(0.1, 0.6), m2_per_fte=(30, 60), util=(75, 12), running=(110, 190), basis=DRC,
                  operational=True, vacant_chance=0.0, leasehold_chance=0.0, size_by_place=True),
    "county_court": Kind(U.court, "court", ("{place} County Court",), gia=(900, 3000), rate=(1800, 3000),
                         site_ha=(0.1, 0.4), m2_per_fte=(30, 60), util=(72, 12), running=(110, 190),
                         basis=DRC, operational=True, vacant_chance=0.0, leasehold_chance=0.3),
    "hmcts_office": Kind(**_office, names=("HMCTS Area Office, {place}",), gia=(400, 1500)),
    "gov_office": Kind(**{**_office, "leasehold_chance": 0.4}, names=(
        "HM Revenue & Customs, {place}", "Environment Agency Office, {place}",
        "Valuation Office Agency, {place}", "Probation Office, {place}", "Natural England Office, {place}",
        "Highways Agency Area Office, {place}"),
        gia=(300, 4000)),
    "gov_depot": Kind(**_depot, names=("Environment Agency Depot, {place}", "Highways Agency Depot, {place}",
                                       "Flood Defence Store, {place}")),
    "gov_land": Kind(**_land, noun="site", names=(
        "Land at {street}, {place}", "Former MoD land, {place}", "Surplus land, {street}, {place}"),
        rate=(50_000, 600_000), site_ha=(0.3, 8), running=(30, 300), vacant_chance=0.2, disposability=0.7,
        topic="site"),
    "flood_land": Kind(**_land, noun="washland",
                       names=("Flood storage land, {place}", "Washland near {place}",
                              "Flood meadow, {place}"),
                       rate=(6_000, 15_000), site_ha=(2, 30), running=(20, 80), vacant_chance=0.0,
                       disposability=0.3, rural=True, topic="flood"),
    "ta_centre": Kind(U.other, "reserve centre", ("Territorial Army Centre, {place}",), gia=(600, 2000),
                      rate=(1000, 1800), site_ha=(0.3, 1.2), m2_per_fte=(30, 60), util=(55, 15),
                      running=(40, 80), disposability=0.4),
    "prison": Kind(U.other, "prison", ("HMP {place}",), gia=(20_000, 40_000), rate=(1600, 2200),
                   site_ha=(30, 60), m2_per_fte=(40, 60), util=(97, 2), running=(60, 100), basis=DRC,
                   operational=True, vacant_chance=0.0, leasehold_chance=0.0),
}  # fmt: skip


# --- what each body holds --------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """``count`` holdings of one kind for one owner, spread over ``scope`` (or one per place if ``each``)."""

    owner: str
    kind: str
    count: int
    scope: tuple[str, ...] | str  # place names, or "all" / "district"
    each: bool = False


def _each(owner: str, kind: str, places: Sequence[str]) -> Plan:
    return Plan(owner, kind, len(places), tuple(places), each=True)


def _without(names: Sequence[str], *drop: str) -> tuple[str, ...]:
    return tuple(name for name in names if name not in drop)


_LAND_MIX = {"open_space": 10, "district_site": 6, "car_park": 4}
_SMALL_LAND_MIX = {"open_space": 8, "district_site": 5, "car_park": 3}
DISTRICT_MIX: dict[str, dict[str, int]] = {
    "worcester-city": {"district_office": 9, "leisure_centre": 3, "pavilion": 6, "district_depot": 2,
                       "cemetery": 2, "district_community": 20, **_LAND_MIX, "commercial": 8,
                       "public_toilets": 5},
    "wychavon": {"district_office": 7, "leisure_centre": 4, "pavilion": 5, "district_depot": 2,
                 "cemetery": 4, "district_community": 18, **_LAND_MIX, "commercial": 6,
                 "public_toilets": 6, "tourist_information": 2, "market_hall": 1},
    "malvern-hills": {"district_office": 6, "leisure_centre": 2, "pavilion": 4, "district_depot": 2,
                      "cemetery": 3, "district_community": 16, **_SMALL_LAND_MIX, "commercial": 5,
                      "public_toilets": 6, "tourist_information": 1},
    "bromsgrove": {"district_office": 5, "leisure_centre": 2, "pavilion": 4, "district_depot": 1,
                   "cemetery": 2, "district_community": 16, **_SMALL_LAND_MIX, "commercial": 5,
                   "public_toilets": 3},
    "redditch": {"district_office": 7, "leisure_centre": 3, "pavilion": 4, "district_depot": 2,
                 "cemetery": 2, "district_community": 24, **_LAND_MIX, "commercial": 7,
                 "sheltered_housing": 10, "public_toilets": 2},
    "wyre-forest": {"district_office": 6, "leisure_centre": 3, "pavilion": 4, "district_depot": 1,
                    "cemetery": 3, "district_community": 18, **_LAND_MIX, "commercial": 6,
                    "public_toilets": 5, "tourist_information": 1},
}  # fmt: skip

PLANS: tuple[Plan, ...] = (
    # Worcestershire County Council
    Plan("worcestershire-cc", "primary_school", 190, "all"),
    Plan("worcestershire-cc", "middle_school", 26, ("Redditch", "Bromsgrove", "Evesham", "Pershore",
                                                    "Droitwich Spa", "Alvechurch", "Catshill")),
    Plan("worcestershire-cc", "high_school", 32, TOWNS),
    Plan("worcestershire-cc", "special_school", 13, BIG_TOWNS),
    _each("worcestershire-cc", "library", _without(TOWNS, "Worcester", "Kidderminster")),
    _each("worcestershire-cc", "library", ("Broadway", "Hagley", "Alvechurch", "Catshill", "Martley")),
    Plan("worcestershire-cc", "branch_library", 6, ("Worcester", "Kidderminster", "Redditch")),
    Plan("worcestershire-cc", "county_office", 50, BIG_TOWNS),
    _each("worcestershire-cc", "customer_service_centre", _without(TOWNS, "Evesham", "Kidderminster")),
    Plan("worcestershire-cc", "county_depot", 18, "all"),
    Plan("worcestershire-cc", "county_community", 85, "all"),
    Plan("worcestershire-cc", "county_farm", 98, RURAL),
    Plan("worcestershire-cc", "county_land", 35, "all"),
    Plan("worcestershire-cc", "childrens_home", 16, BIG_TOWNS),
    Plan("worcestershire-cc", "refuge", 5, BIG_TOWNS),
    Plan("worcestershire-cc", "care_home", 18, "all"),
    Plan("worcestershire-cc", "adult_education", 8, TOWNS),
    Plan("worcestershire-cc", "outdoor_centre", 3, ("Bewdley", "Malvern", "Tenbury Wells", "Broadway")),
    # district councils
    *(Plan(owner, kind, count, "district")
      for owner, mix in DISTRICT_MIX.items() for kind, count in mix.items()),
    Plan("wyre-forest", "museum", 1, ("Bewdley",)),
    # West Mercia Police
    _each("west-mercia-police", "police_station", (*_without(TOWNS, "Worcester", "Evesham"),
                                                   "Broadway", "Hagley", "Alvechurch", "Martley")),
    _each("west-mercia-police", "custody_suite", ("Kidderminster", "Redditch")),
    Plan("west-mercia-police", "police_office", 10, BIG_TOWNS),
    Plan("west-mercia-police", "police_house", 16, VILLAGES),
    Plan("west-mercia-police", "police_workshop", 1, ("Worcester",)),
    # Hereford & Worcester Fire and Rescue
    _each("hw-fire", "fire_station", (*_without(TOWNS, "Worcester"), "Broadway", "Hagley")),
    Plan("hw-fire", "fire_office", 2, BIG_TOWNS),
    _each("hw-fire", "fire_other", ("Droitwich Spa", "Worcester")),
    # NHS
    Plan("worcs-acute", "acute_office", 5, ("Worcester", "Redditch", "Kidderminster", "Bromsgrove")),
    _each("worcs-acute", "staff_residence", ("Worcester", "Redditch", "Kidderminster")),
    Plan("hw-health-care", "health_centre", 50, "all"),
    Plan("hw-health-care", "mental_health_unit", 11, BIG_TOWNS),
    Plan("hw-health-care", "child_development", 4, BIG_TOWNS),
    Plan("hw-health-care", "trust_office", 16, BIG_TOWNS),
    Plan("hw-icb", "primary_care_centre", 18, TOWNS),
    Plan("hw-icb", "icb_office", 9, BIG_TOWNS),
    # central government
    _each("dwp-jcp", "jobcentre", ("Worcester", "Kidderminster", "Redditch", "Bromsgrove", "Malvern",
                                   "Droitwich Spa", "Stourport-on-Severn")),
    _each("dwp-jcp", "dwp_office", ("Worcester", "Redditch", "Kidderminster")),
    _each("hmcts", "court", ("Kidderminster", "Redditch", "Bromsgrove", "Evesham", "Malvern")),
    _each("hmcts", "county_court", ("Worcester", "Kidderminster", "Redditch")),
    _each("hmcts", "hmcts_office", ("Worcester",)),
    Plan("central-gov-other", "gov_office", 18, BIG_TOWNS),
    _each("central-gov-other", "gov_depot", ("Worcester", "Upton-upon-Severn", "Evesham", "Pershore",
                                             "Stourport-on-Severn", "Bewdley", "Tenbury Wells",
                                             "Bromsgrove")),
    Plan("central-gov-other", "flood_land", 5, ("Worcester", "Upton-upon-Severn", "Tenbury Wells", "Bewdley",
                                                 "Kempsey", "Powick", "Bredon")),
    Plan("central-gov-other", "gov_land", 5, ("Worcester", "Upton-upon-Severn", "Evesham", "Pershore",
                                               "Tenbury Wells", "Bewdley", "Stourport-on-Severn", "Kempsey",
                                               "Powick", "Bredon")),
    _each("central-gov-other", "ta_centre", ("Worcester", "Kidderminster", "Redditch")),
)  # fmt: skip


@dataclass(frozen=True)
class Landmark:
    """A named real building placed by hand; its figures are still generated."""

    owner: str
    kind: str
    name: str
    place: str
    street: str
    lat: float
    lon: float
    gia: int | None = None
    site_ha: float | None = None
    listed: str = ""
    site: str | None = None  # landmarks sharing a site share a UPRN
    util: int | None = None  # fixing it also guarantees an FTE figure
    rag: Rag | None = None
    reason: str | None = None


HUB_REASON = "Front office used at {util}%; could share one Evesham hub with the other public bodies nearby."

LANDMARKS: tuple[Landmark, ...] = (
    # The Evesham cluster the Total Place pilot found (all four within ~250 m).
    Landmark("west-mercia-police", "police_station", "Evesham Police Station", "Evesham", "Abbey Road",
             52.0933, -1.9490, gia=1400, util=63,
             reason="Operational police station, but its front counter (used at {util}%) could join "
                    "an Evesham hub."),
    Landmark("worcestershire-cc", "customer_service_centre", "Evesham Customer Service Centre", "Evesham",
             "High Street", 52.0927, -1.9468, gia=520, util=61, rag=Rag.amber, reason=HUB_REASON),
    Landmark("wychavon", "district_office", "Wychavon Council Offices, Evesham", "Evesham", "Vine Street",
             52.0918, -1.9480, gia=1100, util=58, rag=Rag.amber, reason=HUB_REASON),
    Landmark("dwp-jcp", "jobcentre", "Evesham Jobcentre Plus", "Evesham", "Bridge Street", 52.0922, -1.9458,
             gia=760, util=55, rag=Rag.amber, reason=HUB_REASON),
    # county
    Landmark("worcestershire-cc", "county_office", "County Hall", "Worcester", "Spetchley Road",
             52.1868, -2.1845, gia=22_000, site_ha=9.5),
    Landmark("worcestershire-cc", "library", "Worcester City Library", "Worcester", "Foregate Street",
             52.1972, -2.2213, gia=2200, listed="II", site="victoria-institute"),
    Landmark("worcestershire-cc", "library", "Kidderminster Library", "Kidderminster", "Market Street",
             52.3883, -2.2472, gia=1400, site="kidderminster-library"),
    Landmark("worcestershire-cc", "customer_service_centre", "Kidderminster Hub Customer Service Centre",
             "Kidderminster", "Market Street", 52.3884, -2.2470, gia=450, site="kidderminster-library"),
    Landmark("worcestershire-cc", "country_park", "Worcester Woods Country Park", "Worcester",
             "Wildwood Drive",
             52.1840, -2.1775, site_ha=45.0),
    Landmark("worcestershire-cc", "country_park", "Waseley Hills Country Park", "Bromsgrove",
             "Gannow Green Lane",
             52.3830, -2.0300, site_ha=60.0),
    # Worcester City
    Landmark("worcester-city", "district_office", "Worcester Guildhall", "Worcester", "High Street",
             52.1925, -2.2203, gia=3500, listed="I"),
    Landmark("worcester-city", "museum", "Worcester City Museum and Art Gallery", "Worcester",
             "Foregate Street",
             52.1971, -2.2214, gia=2400, listed="II", site="victoria-institute"),
    Landmark("worcester-city", "museum", "The Commandery", "Worcester", "Sidbury", 52.1878, -2.2168,
             gia=1300, listed="I"),
    Landmark("worcester-city", "crematorium", "Worcester Crematorium", "Worcester", "Astwood Road",
             52.2105, -2.2105, gia=850, site_ha=11.0),
    Landmark("worcester-city", "leisure_centre", "Perdiswell Leisure Centre", "Worcester", "Bilford Road",
             52.2170, -2.2035, gia=3600, site="perdiswell"),
    Landmark("worcester-city", "open_space", "Perdiswell Playing Fields", "Worcester", "Bilford Road",
             52.2178, -2.2020, site_ha=9.0, site="perdiswell"),
    # Wychavon: its Civic Centre is in Pershore, not Evesham.
    Landmark("wychavon", "district_office", "Wychavon Civic Centre", "Pershore", "Queen Elizabeth Drive",
             52.1045, -2.0665, gia=5200),
    # Malvern Hills
    Landmark("malvern-hills", "district_office", "Malvern Council House", "Malvern", "Avenue Road",
             52.1098, -2.3190, gia=3000, listed="II"),
    Landmark("malvern-hills", "theatre", "Malvern Theatres", "Malvern", "Grange Road", 52.1100, -2.3235,
             gia=5200),
    # Bromsgrove
    Landmark("bromsgrove", "district_office", "Bromsgrove Council House", "Bromsgrove", "Burcot Lane",
             52.3400, -2.0540, gia=4000),
    Landmark("bromsgrove", "leisure_centre", "The Dolphin Centre", "Bromsgrove", "School Drive",
             52.3330, -2.0575, gia=3400),
    Landmark("bromsgrove", "district_depot", "Bromsgrove Depot", "Bromsgrove", "Aston Road",
             52.3240, -2.0480, gia=2600, site="bromsgrove-depot"),
    Landmark("bromsgrove", "district_site", "Land adjoining Bromsgrove Depot", "Bromsgrove", "Aston Road",
             52.3236, -2.0472, site_ha=1.4, site="bromsgrove-depot"),
    # Redditch
    Landmark("redditch", "district_office", "Redditch Town Hall", "Redditch", "Walter Stranz Square",
             52.3065, -1.9410, gia=7500),
    Landmark("redditch", "leisure_centre", "Abbey Stadium", "Redditch", "Birmingham Road", 52.3170, -1.9490,
             gia=5400),
    Landmark("redditch", "theatre", "Palace Theatre", "Redditch", "Alcester Street", 52.3055, -1.9380,
             gia=1800, listed="II"),
    Landmark("redditch", "museum", "Forge Mill Needle Museum", "Redditch", "Needle Mill Lane",
             52.3215, -1.9465, gia=900, listed="II"),
    Landmark("redditch", "crematorium", "Redditch Crematorium", "Redditch", "Bordesley Lane",
             52.3240, -1.9530, gia=700),
    # Wyre Forest
    Landmark("wyre-forest", "district_office", "Wyre Forest Civic Centre", "Stourport-on-Severn",
             "New Street",
             52.3403, -2.2790, gia=4500),
    Landmark("wyre-forest", "museum", "Kidderminster Town Hall", "Kidderminster", "Vicar Street",
             52.3878, -2.2490, gia=2800, listed="II"),
    Landmark("wyre-forest", "district_depot", "Green Street Depot", "Kidderminster", "Green Street",
             52.3830, -2.2430, gia=3200),
    Landmark("wyre-forest", "crematorium", "Kidderminster Crematorium", "Kidderminster", "Cemetery Road",
             52.3790, -2.2350, gia=650),
    # emergency services: the police and fire headquarters share Hindlip Park.
    Landmark("west-mercia-police", "police_office", "Police Headquarters, Hindlip Hall", "Worcester",
             "Hindlip Park", 52.2290, -2.1625, gia=12_000, site_ha=14.0, listed="II", site="hindlip"),
    Landmark("hw-fire", "fire_office", "Fire and Rescue Service Headquarters", "Worcester", "Hindlip Park",
             52.2282, -2.1610, gia=3500, site="hindlip"),
    Landmark("west-mercia-police", "police_station", "Worcester Police Station", "Worcester", "Castle Street",
             52.1985, -2.2240, gia=4200, site="worcester-police"),
    Landmark("west-mercia-police", "custody_suite", "Worcester Custody Suite", "Worcester", "Castle Street",
             52.1988, -2.2245, gia=1900, site="worcester-police"),
    Landmark("hw-fire", "fire_station", "Worcester Fire Station", "Worcester", "Copenhagen Street",
             52.1905, -2.2228, gia=2300),
    # hospitals
    Landmark("worcs-acute", "acute_hospital", "Worcestershire Royal Hospital", "Worcester",
             "Charles Hastings Way", 52.1925, -2.1810, gia=62_000, site_ha=22.0, site="wrh"),
    Landmark("worcs-acute", "acute_hospital", "Alexandra Hospital", "Redditch", "Woodrow Drive",
             52.2835, -1.9210, gia=44_000, site_ha=16.0),
    Landmark("worcs-acute", "acute_hospital", "Kidderminster Hospital and Treatment Centre", "Kidderminster",
             "Bewdley Road", 52.3850, -2.2605, gia=36_000, site_ha=13.0),
    Landmark("worcs-acute", "acute_hospital", "Princess of Wales Community Hospital", "Bromsgrove",
             "Stourbridge Road", 52.3470, -2.0655, gia=21_000, site_ha=8.0),
    Landmark("hw-health-care", "mental_health_unit", "Elgar Unit", "Worcester", "Charles Hastings Way",
             52.1932, -2.1820, gia=2900, site="wrh"),
    Landmark("hw-health-care", "community_hospital", "Newtown Hospital", "Worcester", "Newtown Road",
             52.1965, -2.1965, gia=4100),
    Landmark("hw-health-care", "community_hospital", "Evesham Community Hospital", "Evesham", "Waterside",
             52.0885, -1.9410, gia=6500),
    Landmark("hw-health-care", "community_hospital", "Malvern Community Hospital", "Malvern", "Lydiate Lane",
             52.1230, -2.3090, gia=5200),
    Landmark("hw-health-care", "community_hospital", "Pershore Community Hospital", "Pershore",
             "Defford Road",
             52.1090, -2.0700, gia=2600),
    Landmark("hw-health-care", "community_hospital", "Tenbury Community Hospital", "Tenbury Wells",
             "Bromyard Road", 52.3050, -2.5880, gia=2000),
    Landmark("hw-icb", "icb_office", "Isaac Maddox House", "Worcester", "Shrub Hill Road", 52.1950, -2.2080,
             gia=3500),
    # courts and central government
    Landmark("hmcts", "court", "Worcester Crown Court", "Worcester", "Foregate Street", 52.1990, -2.2215,
             gia=4800, listed="II*"),
    Landmark("hmcts", "court", "Worcester Magistrates' Court", "Worcester", "Castle Street", 52.1980, -2.2255,
             gia=3900),
    Landmark("central-gov-other", "prison", "HMP Hewell", "Redditch", "Hewell Lane", 52.3125, -2.0035,
             gia=31_000, site_ha=45.0, listed="II*"),
    Landmark("central-gov-other", "gov_office", "Rural Payments Agency, Worcester", "Worcester",
             "Whittington Road", 52.1830, -2.1760, gia=6500),
)  # fmt: skip


# --- assets ----------------------------------------------------------------------------------


@dataclass
class Asset:
    owner: str
    kind: Kind
    place: Place
    name: str
    street: str
    lon: float
    lat: float
    street_number: str = ""
    postcode: str = ""
    tenure: Tenure = Tenure.freehold
    tenure_detail: TenureDetail = TenureDetail.occupied
    holding_type: HoldingType = HoldingType.land_and_building
    gia: int | None = None
    site_ha: float | None = None
    util: int | None = None
    fte: int | None = None
    value: int = 0
    basis: ValuationBasis = ValuationBasis.euv
    valuation_date: date = VALUATION_START
    running: int = 0
    backlog: int = 0
    condition: Condition = Condition.B
    listed: str = ""
    lease_expiry: date | None = None
    rag: Rag | None = None
    reason: str = ""
    stage: DisposalStage = DisposalStage.retained
    blockers: list[DisposalBlocker] = field(default_factory=list)
    site_key: str | None = None
    uprn: int | None = None
    asset_ref: str = ""

    @property
    def vacant(self) -> bool:
        return self.tenure_detail == TenureDetail.vacant

    @property
    def leasehold(self) -> bool:
        return self.tenure == Tenure.leasehold

    def as_row(self) -> dict[str, str]:
        return {
            "owner": self.owner,
            "asset_ref": self.asset_ref,
            "uprn": _blank(self.uprn),
            "name": self.name,
            "street_number": self.street_number,
            "street": self.street,
            "post_town": self.place.post_town,
            "postcode": self.postcode,
            "lon": f"{self.lon:.6f}",
            "lat": f"{self.lat:.6f}",
            "tenure": self.tenure.value,
            "tenure_detail": self.tenure_detail.value,
            "holding_type": self.holding_type.value,
            "use_category": self.kind.use.value,
            "gia_m2": _blank(self.gia),
            "site_area_ha": "" if self.site_ha is None else f"{self.site_ha:.2f}",
            "utilisation_pct": _blank(self.util),
            "fte": _blank(self.fte),
            "value_gbp": str(self.value),
            "valuation_basis": self.basis.value,
            "valuation_date": self.valuation_date.isoformat(),
            "running_cost_gbp_pa": str(self.running),
            "maintenance_backlog_gbp": str(self.backlog),
            "condition": self.condition.value,
            "listed_grade": self.listed,
            "lease_expiry_date": "" if self.lease_expiry is None else self.lease_expiry.isoformat(),
            "rag": "" if self.rag is None else self.rag.value,
            "rag_reason": self.reason,
            "disposal_stage": self.stage.value,
            "disposal_blockers": ";".join(b.value for b in self.blockers),
            "sensitive": "true" if self.kind.sensitive else "false",
        }


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


# --- drawing numbers -------------------------------------------------------------------------


def loguniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def lerp(bounds: Range, t: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * t


def clamp(value: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, value))


def round_value(pounds: float) -> int:
    """Whole pounds, rounded the way a valuer reports them."""
    if pounds >= 100_000:
        return int(round(pounds, -3))
    return max(50, int(round(pounds / 50) * 50))


def random_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters Royal Mail uses in an inward code


def postcode(rng: random.Random, place: Place) -> str:
    letters = "".join(rng.choice(POSTCODE_LETTERS) for _ in range(2))
    return f"{rng.choice(place.outward)} {rng.randint(1, 9)}{letters}"


# --- building one asset ----------------------------------------------------------------------


class Namer:
    """Fills a kind's name templates, never giving one owner the same name twice."""

    def __init__(self) -> None:
        self._used: dict[str, list[str]] = {}

    def name(self, rng: random.Random, owner: str, kind: Kind, place: Place) -> tuple[str, str]:
        """A fresh name and the street it is on; a name that keeps colliding gets its street added."""
        used = self._used.setdefault(owner, [])
        for attempt in range(60):
            street = rng.choice(place.streets)
            candidate = self._fill(rng, rng.choice(kind.names), place, street)
            if attempt >= 30 and "{street}" not in "".join(kind.names):
                candidate = f"{candidate} ({street})"
            if candidate not in used:
                used.append(candidate)
                return candidate, street
        raise RuntimeError(f"ran out of names for {owner}'s {kind.noun}s in {place.name}")

    def reserve(self, owner: str, name: str) -> None:
        self._used.setdefault(owner, []).append(name)

    @staticmethod
    def _fill(rng: random.Random, template: str, place: Place, street: str) -> str:
        area = rng.choice(place.areas) if place.areas and rng.random() < 0.8 else place.name
        return template.format(
            place=place.name,
            area=area,
            street=street,
            word=rng.choice(HOUSE_WORDS),
            farm=rng.choice(FARM_WORDS),
            saint=rng.choice(SAINTS),
        )


def scatter_point(rng: random.Random, geo: Geo, place: Place, kind: Kind) -> tuple[float, float]:
    """A point round the place, inside the county and clear of the Evesham hub if office-like."""
    cx, cy = geo.to_bng(place.lon, place.lat)
    radius = 2500.0 if kind.rural else place.radius_km * 1000.0
    for _ in range(500):
        # Most buildings cluster near the centre.
        frac = 0.45 + 0.55 * rng.random() if kind.on_the_edge else rng.random() ** 0.75
        theta = rng.uniform(0.0, 2.0 * math.pi)
        lon, lat = geo.to_wgs(cx + radius * frac * math.cos(theta), cy + radius * frac * math.sin(theta))
        if not geo.well_inside(lon, lat):
            continue
        if kind.use in OFFICE_LIKE and geo.metres_from_hub(lon, lat) < HUB_CLEAR_M:
            continue
        return lon, lat
    raise RuntimeError(f"no room for a {kind.noun} round {place.name}")


def place_factor(place: Place) -> float:
    """0 for the smallest place, 1 for Worcester: scales station and library sizes."""
    return math.log1p(place.weight) / math.log1p(MAX_WEIGHT)


def draw_tenure(rng: random.Random, kind: Kind, owner: str, in_use: bool) -> tuple[Tenure, TenureDetail]:
    roll = rng.random()
    if roll < kind.leasehold_chance:
        tenure = Tenure.leasehold
        detail = rng.choices(
            (TenureDetail.leasehold, TenureDetail.ground_leasehold, TenureDetail.sub_leasehold),
            (0.7, 0.15, 0.15),
        )[0]
        if owner == "dwp-jcp":
            detail = TenureDetail.leasehold
    elif roll < kind.leasehold_chance + 0.03:
        tenure, detail = Tenure.other, TenureDetail.licence
    else:
        tenure, detail = Tenure.freehold, TenureDetail.occupied
    if not in_use and rng.random() < kind.vacant_chance:
        detail = TenureDetail.vacant
    return tenure, detail


def draw_holding_type(rng: random.Random, kind: Kind, tenure: Tenure) -> HoldingType:
    if kind.is_land:
        return HoldingType.land
    if tenure == Tenure.leasehold and rng.random() < 0.5:
        return HoldingType.building  # a floor or suite in someone else's building
    if rng.random() < 0.06:
        return HoldingType.building
    return HoldingType.land_and_building


def draw_condition(rng: random.Random, vacant: bool) -> Condition:
    weights = (0.05, 0.30, 0.45, 0.20) if vacant else (0.15, 0.50, 0.28, 0.07)
    return rng.choices((Condition.A, Condition.B, Condition.C, Condition.D), weights)[0]


def draw_listed(rng: random.Random, kind: Kind) -> str:
    if rng.random() >= kind.listed_chance:
        return ""
    grade = rng.choices((ListedGrade.II, ListedGrade.II_star, ListedGrade.I), (0.85, 0.12, 0.03))[0]
    return grade.value


def draw_size(rng: random.Random, kind: Kind, place: Place) -> tuple[int | None, float]:
    """GIA and site area, drawn together so big buildings get big sites."""
    t = rng.random()
    if kind.size_by_place:
        t = clamp(0.65 * place_factor(place) + 0.35 * rng.random(), 0.0, 1.0)
    site_t = clamp(t + rng.uniform(-0.2, 0.2), 0.0, 1.0)
    site_ha = math.exp(lerp((math.log(kind.site_ha[0]), math.log(kind.site_ha[1])), site_t))
    if kind.gia is None:
        return None, site_ha
    gia = math.exp(lerp((math.log(kind.gia[0]), math.log(kind.gia[1])), t))
    return int(round(gia, -1 if gia >= 200 else 0)), site_ha


def draw_utilisation(rng: random.Random, kind: Kind, vacant: bool) -> int | None:
    if kind.util is None:
        return None
    if vacant:
        return 0
    floor = 55 if kind.operational else 5  # an emergency base in use is never mostly empty
    return int(clamp(round(rng.gauss(*kind.util)), floor, 100))


def draw_fte(rng: random.Random, kind: Kind, gia: int | None, util: int | None, staffed: bool) -> int | None:
    if kind.m2_per_fte is None or gia is None or not util:
        return None
    if not staffed and rng.random() >= 0.9:
        return None
    return max(1, round(gia / rng.uniform(*kind.m2_per_fte) * (0.6 + 0.4 * util / 100)))


def draw_value(rng: random.Random, kind: Kind, gia: int | None, site_ha: float, asset: Asset) -> int:
    if gia is None:
        pounds = site_ha * loguniform(rng, *kind.rate)
    else:
        pounds = gia * rng.uniform(*kind.rate) + site_ha * rng.uniform(*kind.land_rate)
    if asset.leasehold:
        pounds *= rng.uniform(0.08, 0.3)  # a lease at rack rent is worth a fraction of the freehold
    if asset.vacant:
        pounds *= rng.uniform(0.6, 0.85)
    return round_value(pounds)


def draw_running(rng: random.Random, kind: Kind, gia: int | None, site_ha: float, vacant: bool) -> int:
    if gia is None:
        pounds = site_ha * rng.uniform(*kind.running)
    else:
        pounds = gia * rng.uniform(*kind.running) + site_ha * rng.uniform(*kind.site_running)
    if vacant:
        pounds *= rng.uniform(0.25, 0.5)  # security, rates and heating to stop it decaying
    return int(round(pounds, -1))


BACKLOG_PER_M2: dict[Condition, Range] = {
    Condition.A: (0, 15), Condition.B: (10, 60), Condition.C: (60, 220), Condition.D: (200, 550),
}  # fmt: skip
BACKLOG_LAND: dict[Condition, Range] = {
    Condition.A: (0, 0), Condition.B: (0, 2000), Condition.C: (2000, 15000), Condition.D: (10000, 40000),
}  # fmt: skip


def draw_backlog(rng: random.Random, gia: int | None, condition: Condition) -> int:
    if gia is None:
        return int(round(rng.uniform(*BACKLOG_LAND[condition]), -2))
    return int(round(gia * rng.uniform(*BACKLOG_PER_M2[condition]), -2))


def draw_lease_expiry(rng: random.Random, asset: Asset) -> date | None:
    if not asset.leasehold:
        return None
    if asset.owner == "dwp-jcp":
        return date(2018, 3, 31)  # DWP's offices were let back to it under the PRIME deal to 2018
    years = (60, 125) if asset.tenure_detail == TenureDetail.ground_leasehold else (1, 25)
    return random_date(rng, date(2010 + years[0], 1, 1), date(2010 + years[1], 12, 31))


def street_number(rng: random.Random, kind: Kind) -> str:
    if kind.is_land or rng.random() < 0.3:
        return ""
    return str(rng.randint(1, 220))


def fill_attributes(
    rng: random.Random,
    asset: Asset,
    *,
    gia: int | None = None,
    site_ha: float | None = None,
    util: int | None = None,
    in_use: bool = False,
) -> None:
    """Everything about a holding except where it is and what it is called."""
    kind = asset.kind
    asset.postcode = postcode(rng, asset.place)
    asset.tenure, asset.tenure_detail = draw_tenure(rng, kind, asset.owner, in_use)
    asset.holding_type = draw_holding_type(rng, kind, asset.tenure)
    drawn_gia, drawn_site = draw_size(rng, kind, asset.place)
    asset.gia = gia if gia is not None else drawn_gia
    site = site_ha if site_ha is not None else drawn_site
    asset.site_ha = None if asset.holding_type == HoldingType.building else round(site, 2)
    asset.util = util if util is not None else draw_utilisation(rng, kind, asset.vacant)
    asset.fte = draw_fte(rng, kind, asset.gia, asset.util, staffed=util is not None)
    asset.value = draw_value(rng, kind, asset.gia, site, asset)
    asset.basis = MV if asset.vacant else kind.basis
    asset.valuation_date = random_date(rng, VALUATION_START, VALUATION_END)
    asset.running = draw_running(rng, kind, asset.gia, site, asset.vacant)
    asset.condition = draw_condition(rng, asset.vacant)
    asset.backlog = draw_backlog(rng, asset.gia, asset.condition)
    asset.listed = draw_listed(rng, kind)
    asset.lease_expiry = draw_lease_expiry(rng, asset)


def landmark_asset(rng: random.Random, geo: Geo, namer: Namer, mark: Landmark) -> Asset:
    kind, place = KINDS[mark.kind], PLACE_BY_NAME[mark.place]
    if not geo.well_inside(mark.lon, mark.lat):
        raise ValueError(f"{mark.name} lies outside the county outline")
    namer.reserve(mark.owner, mark.name)
    asset = Asset(mark.owner, kind, place, mark.name, mark.street, mark.lon, mark.lat, site_key=mark.site)
    fill_attributes(rng, asset, gia=mark.gia, site_ha=mark.site_ha, util=mark.util, in_use=True)
    if mark.listed:
        asset.listed = mark.listed
    if mark.rag is not None:
        asset.rag = mark.rag
    if mark.reason is not None:
        asset.reason = mark.reason.format(util=asset.util)
    return asset


def planned_asset(rng: random.Random, geo: Geo, namer: Namer, owner: str, kind: Kind, place: Place) -> Asset:
    lon, lat = scatter_point(rng, geo, place, kind)
    name, street = namer.name(rng, owner, kind, place)
    asset = Asset(owner, kind, place, name, street, lon, lat, street_number=street_number(rng, kind))
    fill_attributes(rng, asset)
    return asset


def plan_places(rng: random.Random, plan: Plan) -> list[Place]:
    if plan.each:
        return [PLACE_BY_NAME[name] for name in plan.scope]
    if plan.scope == "all":
        pool = list(PLACES)
    elif plan.scope == "district":
        pool = [place for place in PLACES if place.district == plan.owner]
    else:
        pool = [PLACE_BY_NAME[name] for name in plan.scope]
    weights = [place.weight for place in pool]
    if KINDS[plan.kind].rural:
        weights = [math.sqrt(w) for w in weights]  # farmland is spread more evenly than people
    return rng.choices(pool, weights, k=plan.count)


def build_assets(rng: random.Random, geo: Geo) -> list[Asset]:
    namer = Namer()
    assets = [landmark_asset(rng, geo, namer, mark) for mark in LANDMARKS]
    for plan in PLANS:
        kind = KINDS[plan.kind]
        for place in plan_places(rng, plan):
            assets.append(planned_asset(rng, geo, namer, plan.owner, kind, place))
    return assets


# --- identifiers -----------------------------------------------------------------------------

# Invented UPRNs: mostly twelve digits in a block per district, the rest in the eleven-digit 10… range.
UPRN_BLOCKS: dict[str, int] = {
    "worcester-city": 100120600000, "wychavon": 100120700000, "malvern-hills": 100120900000,
    "bromsgrove": 100121200000, "redditch": 100121300000, "wyre-forest": 100121100000,
}  # fmt: skip


def assign_uprns(rng: random.Random, assets: list[Asset]) -> None:
    used: set[int] = set()
    by_site: dict[str, int] = {}
    for asset in assets:
        if asset.site_key in by_site:
            asset.uprn = by_site[asset.site_key]  # two holdings on one addressed site
            continue
        blank_chance = 0.3 if asset.kind.is_land else 0.1
        if asset.site_key is None and rng.random() < blank_chance:
            continue
        asset.uprn = _fresh_uprn(rng, asset.place, used)
        used.add(asset.uprn)
        if asset.site_key is not None:
            by_site[asset.site_key] = asset.uprn


def _fresh_uprn(rng: random.Random, place: Place, used: set[int]) -> int:
    while True:
        if rng.random() < 0.75:
            uprn = UPRN_BLOCKS[place.district] + rng.randint(1, 99_999)
        else:
            uprn = 10_000_000_000 + rng.randint(1, 99_999_999)
        if uprn not in used:
            return uprn


def assign_refs(rng: random.Random, assets: list[Asset]) -> None:
    """Each owner numbers its own holdings in its own style, in no particular order of type."""
    for org in ORGANISATIONS:
        mine = [asset for asset in assets if asset.owner == org.code]
        rng.shuffle(mine)
        number = org.ref_start
        for asset in mine:
            asset.asset_ref = org.ref_format.format(number)
            number += rng.randint(1, org.ref_step)


# --- rating ----------------------------------------------------------------------------------

Reason = tuple[str, tuple[DisposalBlocker, ...]]
B = DisposalBlocker
OPS = (B.operational_use,)

RED_OPERATIONAL: dict[UseCategory, tuple[str, ...]] = {
    U.crematorium_cemetery: (
        "Crematorium and cemetery in daily use; no alternative site.",
        "Active burial ground with space for years yet; cannot be released.",
        "Statutory bereavement service runs from here.",
        "Working cemetery; grave rights rule out any sale.",
    ),
    U.police_station: (
        "Operational police station serving {place}.",
        "Response and neighbourhood teams work from here; no other base in {place}.",
        "Front counter and response base for {place}; must stay.",
    ),
    U.fire_station: (
        "Operational fire station; moving it would lengthen response times in {place}.",
        "Crews turn out from here day and night; no alternative site.",
        "Fire cover for {place} and nearby villages depends on this station.",
    ),
    U.hospital: (
        "Hospital in full clinical use.",
        "Wards and clinics in daily use; retained for the NHS.",
        "Clinical services on site with no prospect of release.",
    ),
    U.court: (
        "Court in use with a full sitting list.",
        "Hearings are listed here every weekday; retained.",
        "Operational court with no plans to close.",
    ),
    U.other: ("Operational {noun}; retained.",),
}
RED: dict[str, tuple[Reason, ...]] = {
    "school": tuple((text, OPS) for text in (
        "School at {util}% of capacity; needed for education.",
        "Statutory school places for {place}; no disposal possible.",
        "Pupil numbers in {place} are rising; the site is needed.",
        "Recent capital investment; the school stays on site.",
        "Popular school, full or nearly full ({util}%).",
    )),
    "busy": tuple((text, OPS) for text in (
        "Fully used ({util}%) and central to services in {place}.",
        "Well used {noun}; moving out would cost more than it saves.",
        "Busy {noun} in good order; keep.",
        "Heavily used ({util}%); no spare space to release.",
    )),
    "core": tuple((text, OPS) for text in (
        "Core {noun} for {place}; no realistic alternative site.",
        "The service has no other base in {place}.",
        "Needed for front-line services for the foreseeable future.",
        "Purpose-built {noun} still fit for its use; retained.",
        "Relocation would cost more than any receipt.",
        "Specialist {noun}; no other building could take the service.",
    )),
}  # fmt: skip
AMBER: dict[str, tuple[Reason, ...]] = {
    "colocate": tuple((text, OPS) for text in (
        "Used at {util}%; could share with partners in a {place} hub.",
        "Spare capacity ({util}%); co-location with other public bodies worth exploring.",
        "Services could move into partner space in {place} within three to five years.",
        "Part-used {noun}; candidate for a shared public-sector building.",
    )),
    "condition": (
        ("Condition {condition} with a £{backlog_k}k backlog; options appraisal due.", ()),
        ("Needs £{backlog_k}k of repairs; replace, refurbish or sell.", ()),
        ("Poor condition ({condition}); cheaper to relocate if a partner site is found.", OPS),
    ),
    "listed": (
        ("Grade {grade} listed; costly to run but hard to sell.", (B.planning,)),
        ("Listed building with high running costs; disposal possible with consent.", (B.planning,)),
    ),
    "lease": (
        ("Lease ends in {lease_year}; decide whether to renew or move.", (B.lease,)),
        ("Break clause in {lease_year} gives an exit option.", (B.lease,)),
    ),
    "review": (
        ("Service review under way; future of the {noun} undecided.", OPS),
        ("Could be released if services are reorganised.", OPS),
        ("Some scope to rationalise; depends on partner plans.", ()),
        ("Marginal site; keep under review.", ()),
        ("Running costs of £{running_k}k a year are high for the use it gets.", ()),
    ),
}  # fmt: skip
GREEN: dict[str, tuple[Reason, ...]] = {
    "vacant": tuple((text, ()) for text in (
        "Vacant since {year}; no service need identified.",
        "Empty and costing £{running_k}k a year to secure and maintain.",
        "Closed in {year} when services moved; ready for sale.",
        "Vacant {noun}, surplus to requirements.",
        "Empty since {year}; the vandalism risk is rising.",
    )),
    "underused": tuple((text, ()) for text in (
        "Only {util}% used; remaining services can move elsewhere in {place}.",
        "Under-used ({util}%); the staff can relocate to nearby offices.",
        "Low occupancy ({util}%); a clear disposal opportunity.",
        "Largely empty at {util}% use; consolidate and sell.",
    )),
    "surplus": tuple((text, ()) for text in (
        "Services can be delivered from other buildings in {place}.",
        "No longer fits service needs; surplus once staff move.",
        "High running costs for the use it gets; sell and relocate.",
        "Wrong location for the service; a disposal opportunity.",
    )),
}  # fmt: skip
# Red reasons that only make sense for a building in decent repair.
GOOD_REPAIR_ONLY: frozenset[str] = frozenset({
    "Recent capital investment; the school stays on site.",
    "Busy {noun} in good order; keep.",
    "Purpose-built {noun} still fit for its use; retained.",
})  # fmt: skip
LAND_REASONS: dict[str, dict[Rag, tuple[Reason, ...]]] = {
    "farm": {
        Rag.red: (
            ("Let on a long farm business tenancy; income-producing.", (B.lease,)),
            ("Core holding of the county farms estate, kept to give new farmers a start.", ()),
            ("The tenant holds a lifetime tenancy under the 1986 Act.", (B.lease,)),
        ),
        Rag.amber: (
            ("Could be sold when the current tenancy ends.", (B.lease,)),
            ("Part of the holding has hope value next to {place}.", (B.planning,)),
            ("The buildings could be sold off if the tenant retires.", (B.lease,)),
            ("Access across a neighbour's land needs settling before any sale.", (B.title,)),
        ),
        Rag.green: (
            ("Bare land with no tenant; ready to sell.", ()),
            ("The tenant is retiring; the farm can be sold with vacant possession.", ()),
            ("Land on the edge of {place} with development hope value.", (B.planning,)),
            ("Outlying fields surplus to the farms estate.", ()),
        ),
    },
    "open_space": {
        Rag.red: (
            ("Public open space in daily use.", OPS),
            ("Protected green space in the local plan.", (B.planning,)),
            ("Well used by {place} residents; no case for sale.", OPS),
            ("Sale would need the Secretary of State's consent and replacement provision.", (B.planning,)),
        ),
        Rag.amber: (
            ("An edge of the site could be released for housing without harming its use.", (B.planning,)),
            ("Little used; a part disposal is possible.", (B.planning,)),
            ("Upkeep costs outweigh its use; options under review.", ()),
        ),
        Rag.green: (
            ("Little-used open space; a small disposal is possible.", (B.planning,)),
            ("Not used as open space for years; surplus.", ()),
            ("Surplus to the open space strategy; disposal proposed.", (B.planning,)),
        ),
    },
    "site": {
        Rag.red: (
            ("Reserved for a future school or highway scheme.", (B.planning,)),
            ("Needed as operational land next to a working site.", OPS),
            ("A ransom strip controlling access to a wider site; kept for now.", (B.title,)),
        ),
        Rag.amber: (
            ("Possible housing site if allocated in the local plan.", (B.planning,)),
            ("Amenity land with some development potential; needs planning.", (B.planning,)),
            ("Grazing land on a short licence; disposal possible.", ()),
            ("Access to the site is unresolved; title needs checking before sale.", (B.title,)),
        ),
        Rag.green: (
            ("Surplus land with residential potential.", ()),
            ("No longer needed for its original purpose; a planning brief is in preparation.", (B.planning,)),
            ("Small surplus plot; the neighbouring owner is interested.", ()),
            ("Cleared site ready for the market.", ()),
            ("Redundant land with road frontage; a good receipt is expected.", ()),
        ),
    },
    "car_park": {
        Rag.red: (
            ("Busy car park serving {place} town centre; income-producing.", OPS),
            ("Well used car park; needed for the shops and market.", OPS),
        ),
        Rag.amber: (
            ("Could be redeveloped if the spaces are replaced nearby.", (B.planning,)),
            ("Income is falling; a mixed-use scheme is possible.", (B.planning,)),
        ),
        Rag.green: (
            ("Under-used car park; a development site.", (B.planning,)),
            ("Rarely more than half full; surplus to parking needs.", ()),
        ),
    },
    "flood": {
        Rag.red: (
            ("Functional flood plain needed for flood storage.", (B.planning,)),
            ("Washland that protects {place} from floods; retained.", OPS),
        ),
        Rag.amber: (("Could be sold for grazing with flood storage covenants.", (B.title,)),),
        Rag.green: (("Surplus flood land; can go for grazing with covenants.", (B.title,)),),
    },
    "park": {
        Rag.red: (
            ("Country park open to the public every day.", OPS),
            ("Popular country park; retained for recreation.", OPS),
        ),
        Rag.amber: (("Outlying fields could be released without harming the park.", (B.planning,)),),
        Rag.green: (("A detached corner of the park is surplus.", (B.planning,)),),
    },
}


# The seed is rated as its managers would have in spring 2010, with the register's own
# suggestion rules (gis/rag.py): what a rule decides alone is forced, the rest ranked.
RATED_ON = VALUATION_END
# How far one point of the rules' score moves a building up the disposability ranking.
SCORE_WEIGHT = 0.1


def rag_facts(asset: Asset) -> rag_rules.RagFacts:
    """What the suggestion rules read, as the seed knows it (operational services by their kind)."""
    return rag_rules.RagFacts(
        use_category=asset.kind.use.value,
        vacant=asset.vacant,
        operational=asset.kind.operational,
        utilisation_pct=asset.util,
        condition=asset.condition.value,
        lease_expiry_date=asset.lease_expiry,
        maintenance_backlog_gbp=asset.backlog,
        gia_m2=asset.gia,
        listed_grade=asset.listed or None,
    )


def forced_rag(asset: Asset) -> Rag | None:
    """The rating a decisive rule sets (operational services red; vacant or under-used green)."""
    if asset.rag is not None:
        return asset.rag
    suggestion = rag_rules.suggest_rag(rag_facts(asset), RATED_ON)
    return suggestion.rag if suggestion.decided_by is not None else None


def disposal_score(rng: random.Random, asset: Asset) -> float:
    score = rag_rules.suggest_rag(rag_facts(asset), RATED_ON).score
    return asset.kind.disposability + SCORE_WEIGHT * score + rng.gauss(0, 0.18)


def assign_rags(rng: random.Random, assets: list[Asset]) -> None:
    """Apply the rules, then rank the rest by how disposable they look to hit the county-wide mix."""
    free: list[tuple[float, int, Asset]] = []
    counts = dict.fromkeys(Rag, 0)
    for index, asset in enumerate(assets):
        rag = forced_rag(asset)
        if rag is None:
            free.append((disposal_score(rng, asset), index, asset))
        else:
            asset.rag = rag
            counts[rag] += 1
    free.sort(key=lambda item: (-item[0], item[1]))
    total = len(assets)
    green_left = max(0, round(RAG_SHARE[Rag.green] * total) - counts[Rag.green])
    amber_left = max(0, round(RAG_SHARE[Rag.amber] * total) - counts[Rag.amber])
    for rank, (_, _, asset) in enumerate(free):
        asset.rag = (
            Rag.green if rank < green_left else Rag.amber if rank < green_left + amber_left else Rag.red
        )


def thousands(pounds: int) -> str:
    return f"{max(1, round(pounds / 1000)):,}"


def reason_fields(rng: random.Random, asset: Asset) -> dict[str, object]:
    return {
        "place": asset.place.name, "noun": asset.kind.noun, "util": asset.util,
        "condition": asset.condition.value, "grade": asset.listed, "year": rng.randint(2005, 2009),
        "backlog_k": thousands(asset.backlog), "running_k": thousands(asset.running),
        "lease_year": asset.lease_expiry.year if asset.lease_expiry else "",
    }  # fmt: skip


def land_reason(rng: random.Random, asset: Asset) -> Reason:
    assert asset.rag is not None
    return rng.choice(LAND_REASONS[asset.kind.topic][asset.rag])


def red_reason(rng: random.Random, asset: Asset) -> Reason:
    if asset.kind.operational:
        return rng.choice(RED_OPERATIONAL[asset.kind.use]), OPS
    if asset.kind.is_land:
        return land_reason(rng, asset)
    if asset.kind.use == U.school:
        driver = "school"
    else:
        driver = "busy" if asset.util is not None and asset.util >= 80 else "core"
    reasons = RED[driver]
    if asset.condition in (Condition.C, Condition.D):
        reasons = tuple(reason for reason in reasons if reason[0] not in GOOD_REPAIR_ONLY)
    return rng.choice(reasons)


def amber_reason(rng: random.Random, asset: Asset) -> Reason:
    if asset.kind.is_land:
        return land_reason(rng, asset)
    drivers = ["review"]
    if asset.util is not None and asset.util <= 75:
        drivers.append("colocate")
    if asset.condition in (Condition.C, Condition.D):
        drivers.append("condition")
    if asset.listed:
        drivers.append("listed")
    if asset.lease_expiry is not None and asset.lease_expiry.year <= 2025:
        drivers.append("lease")
    return rng.choice(AMBER[rng.choice(drivers)])


def green_reason(rng: random.Random, asset: Asset) -> Reason:
    if asset.vacant:
        text, fixed = rng.choice(GREEN["vacant"])
    elif asset.kind.is_land:
        text, fixed = land_reason(rng, asset)
    elif asset.util is not None and asset.util < 50:
        text, fixed = rng.choice(GREEN["underused"])
    else:
        text, fixed = rng.choice(GREEN["surplus"])
    blockers = list(fixed)
    if asset.kind.use == U.depot or asset.kind.topic == "site":
        if rng.random() < 0.25:
            blockers.append(B.contamination)
    if rng.random() < 0.08:
        blockers.append(B.title)
    if asset.leasehold and rng.random() < 0.5:
        blockers.append(B.lease)
    if not asset.vacant and asset.util and rng.random() < 0.3:
        blockers.append(B.operational_use)  # the remaining services must move out first
    return text, tuple(blockers)


STAGES: dict[Rag, tuple[tuple[DisposalStage, ...], tuple[float, ...]]] = {
    Rag.red: ((DisposalStage.retained, DisposalStage.under_review), (0.93, 0.07)),
    Rag.amber: ((DisposalStage.under_review, DisposalStage.retained), (0.7, 0.3)),
    Rag.green: ((DisposalStage.declared_surplus, DisposalStage.under_review, DisposalStage.marketed,
                 DisposalStage.under_offer), (0.35, 0.3, 0.23, 0.12)),
}  # fmt: skip
REASONERS: dict[Rag, Callable[[random.Random, Asset], Reason]] = {
    Rag.red: red_reason, Rag.amber: amber_reason, Rag.green: green_reason,
}  # fmt: skip


def explain(rng: random.Random, asset: Asset) -> None:
    """Reason, disposal stage and blockers, consistent with the rating."""
    assert asset.rag is not None
    template, blockers = REASONERS[asset.rag](rng, asset)
    stages, weights = STAGES[asset.rag]
    stage = rng.choices(stages, weights)[0]
    if asset.reason:  # the Evesham hub: services all still in place, and under review since the pilot
        template, blockers, stage = asset.reason, OPS, DisposalStage.under_review
    asset.reason = template.format(**reason_fields(rng, asset))
    asset.blockers = [b for b in DisposalBlocker if b in blockers]
    asset.stage = stage


def rate(rng: random.Random, assets: list[Asset]) -> None:
    assign_rags(rng, assets)
    for asset in assets:
        explain(rng, asset)


# --- output ----------------------------------------------------------------------------------


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def organisation_rows() -> list[dict[str, str]]:
    return [
        {"code": o.code, "name": o.name, "kind": o.kind.value, "gss_code": o.gss_code} for o in ORGANISATIONS
    ]


def boundary_geojson() -> str:
    """The outline as GeoJSON, one vertex a line so a diff of it is readable."""
    properties = json.dumps({
        "name": "Worcestershire",
        "gss_code": "E10000034",
        "source": "Hand-simplified county outline, good to about 1 km; for the illustrative seed only.",
    })  # fmt: skip
    vertices = ",\n".join(f"            [{lon:.4f}, {lat:.4f}]" for lon, lat in boundary_ring())
    lines = (
        "{", '  "type": "FeatureCollection",', '  "features": [', "    {", '      "type": "Feature",',
        f'      "properties": {properties},', '      "geometry": {', '        "type": "Polygon",',
        '        "coordinates": [', "          [", vertices, "          ]", "        ]", "      }", "    }",
        "  ]", "}",
    )  # fmt: skip
    return "\n".join(lines) + "\n"


def ordered(assets: list[Asset]) -> list[Asset]:
    rank = {org.code: index for index, org in enumerate(ORGANISATIONS)}
    return sorted(assets, key=lambda asset: (rank[asset.owner], asset.asset_ref))


def generate() -> list[Asset]:
    rng = random.Random(SEED)
    geo = Geo()
    assets = build_assets(rng, geo)
    assign_uprns(rng, assets)
    assign_refs(rng, assets)
    rate(rng, assets)
    return ordered(assets)


def main(out_dir: Path = HERE) -> None:
    """Write the three seed files into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    assets = generate()
    write_csv(out_dir / ORGANISATIONS_FILE, ORGANISATION_COLUMNS, organisation_rows())
    write_csv(out_dir / PROPERTIES_FILE, PROPERTY_COLUMNS, [asset.as_row() for asset in assets])
    (out_dir / BOUNDARY_FILE).write_text(boundary_geojson(), encoding="utf-8")
    total = sum(asset.value for asset in assets)
    print(f"wrote {len(assets)} properties worth £{total:,} to {out_dir}")


if __name__ == "__main__":
    main()
