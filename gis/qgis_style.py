"""RAG styling for exported layers: a QGIS QML and an OGC SLD, categorized on the RAG field.

The colours are the map page's (:data:`gis.layers.RAG_COLOURS`), so a planner
sees the same red, amber and green in QGIS as in the browser. A layer with no
rating (or a rating the viewer may not see) falls in the grey category.

QGIS reads a GeoPackage's ``layer_styles`` table (the table its "Save style →
in database" writes) and applies the row with ``useAsDefault`` when the layer
is opened; it reads a ``<layer>.qml`` beside a Shapefile the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from gis.layers import RAG_COLOURS
from gis.vocab import Rag

QGIS_VERSION = "3.28.0-Firenze"  # the LTR whose QML shape we write; later versions read it
MARKER_SIZE_MM = 2.6
OUTLINE_COLOUR = "#232323"
OUTLINE_WIDTH_MM = 0.2


@dataclass(frozen=True)
class RagCategory:
    """One class of the renderer: the field value (None = not rated), its legend label and colour."""

    value: str | None
    label: str
    colour: str  # #rrggbb


RAG_CATEGORIES: tuple[RagCategory, ...] = (
    RagCategory(Rag.red.value, "Red: disposal unlikely", RAG_COLOURS["red"]),
    RagCategory(Rag.amber.value, "Amber: disposal possible", RAG_COLOURS["amber"]),
    RagCategory(Rag.green.value, "Green: disposal opportunity", RAG_COLOURS["green"]),
    RagCategory(None, "Not rated / not shown", RAG_COLOURS["none"]),
)


def rgba(colour: str, alpha: int = 255) -> str:
    """Return QGIS's ``r,g,b,a`` colour text for ``#rrggbb``."""
    hex_digits = colour.lstrip("#")
    r, g, b = (int(hex_digits[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{alpha}"


def _marker_symbol(name: str, colour: str) -> str:
    props = {
        "angle": "0",
        "color": rgba(colour),
        "horizontal_anchor_point": "1",
        "joinstyle": "bevel",
        "name": "circle",
        "offset": "0,0",
        "offset_unit": "MM",
        "outline_color": rgba(OUTLINE_COLOUR),
        "outline_style": "solid",
        "outline_width": str(OUTLINE_WIDTH_MM),
        "outline_width_unit": "MM",
        "scale_method": "diameter",
        "size": str(MARKER_SIZE_MM),
        "size_unit": "MM",
        "vertical_anchor_point": "1",
    }
    # QGIS >= 3.16 reads the <Option> map; older releases read the <prop> list.
    options = "".join(f'<Option name="{k}" type="QString" value="{v}"/>' for k, v in props.items())
    legacy = "".join(f'<prop k="{k}" v="{v}"/>' for k, v in props.items())
    return (
        f'<symbol type="marker" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
        '<layer class="SimpleMarker" enabled="1" locked="0" pass="0">'
        f'<Option type="Map">{options}</Option>{legacy}'
        "</layer></symbol>"
    )


def rag_qml(field: str = "rag") -> str:
    """Return a QGIS layer style (QML) colouring points by ``field``: red, amber, green, else grey.

    The grey category has an empty value: QGIS gives it NULLs and any value
    no other category matches.
    """
    categories = "".join(
        f'<category symbol="{i}" value={quoteattr(c.value or "")} label={quoteattr(c.label)} render="true"/>'
        for i, c in enumerate(RAG_CATEGORIES)
    )
    symbols = "".join(_marker_symbol(str(i), c.colour) for i, c in enumerate(RAG_CATEGORIES))
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology">'
        f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} forceraster="0" '
        'symbollevels="0" enableorderby="0" referencescale="-1">'
        f"<categories>{categories}</categories>"
        f"<symbols>{symbols}</symbols>"
        f"<source-symbol>{_marker_symbol('0', RAG_COLOURS['none'])}</source-symbol>"
        "<rotation/><sizescale/>"
        "</renderer-v2>"
        "<layerGeometryType>0</layerGeometryType>"
        "</qgis>\n"
    )


def _sld_filter(field: str, value: str | None) -> str:
    name = f"<ogc:PropertyName>{xml_escape(field)}</ogc:PropertyName>"
    if value is None:
        # Not rated: NULL, or any value that is not one of the three ratings.
        equal = "".join(
            f"<ogc:PropertyIsNotEqualTo>{name}<ogc:Literal>{c.value}</ogc:Literal></ogc:PropertyIsNotEqualTo>"
            for c in RAG_CATEGORIES
            if c.value is not None
        )
        is_null = f"<ogc:PropertyIsNull>{name}</ogc:PropertyIsNull>"
        return f"<ogc:Filter><ogc:Or>{is_null}<ogc:And>{equal}</ogc:And></ogc:Or></ogc:Filter>"
    return (
        f"<ogc:Filter><ogc:PropertyIsEqualTo>{name}<ogc:Literal>{xml_escape(value)}</ogc:Literal>"
        "</ogc:PropertyIsEqualTo></ogc:Filter>"
    )


def rag_sld(layer_name: str, field: str = "rag") -> str:
    """Return an SLD 1.1 (Symbology Encoding) style with one rule per RAG category."""
    rules = []
    for category in RAG_CATEGORIES:
        rules.append(
            "<se:Rule>"
            f"<se:Name>{xml_escape(category.value or 'not rated')}</se:Name>"
            f"<se:Description><se:Title>{xml_escape(category.label)}</se:Title></se:Description>"
            f"{_sld_filter(field, category.value)}"
            "<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName>"
            f'<se:Fill><se:SvgParameter name="fill">{category.colour}</se:SvgParameter></se:Fill>'
            f'<se:Stroke><se:SvgParameter name="stroke">{OUTLINE_COLOUR}</se:SvgParameter>'
            '<se:SvgParameter name="stroke-width">0.5</se:SvgParameter></se:Stroke>'
            "</se:Mark><se:Size>7</se:Size></se:Graphic></se:PointSymbolizer>"
            "</se:Rule>"
        )
    name = xml_escape(layer_name)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
        'xmlns:ogc="http://www.opengis.net/ogc" xmlns:se="http://www.opengis.net/se" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">'
        f"<NamedLayer><se:Name>{name}</se:Name><UserStyle><se:Name>{name} by RAG</se:Name>"
        f"<se:FeatureTypeStyle>{''.join(rules)}</se:FeatureTypeStyle>"
        "</UserStyle></NamedLayer></StyledLayerDescriptor>\n"
    )


def kml_style(rag: str | None) -> str:
    """Return the OGR feature style string GDAL's LIBKML driver turns into a placemark IconStyle.

    A white circle icon tinted with the RAG colour: tinting Google Earth's
    default (yellow) pushpin would mix the colours. The icon id must be set:
    GDAL 3.12's LIBKML writer crashes on a SYMBOL with a colour alone.
    """
    colour = RAG_COLOURS.get(rag or "none", RAG_COLOURS["none"])
    return f'SYMBOL(id:"{KML_ICON_HREF}",c:{colour}ff,s:1.0)'


KML_ICON_HREF = "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png"
