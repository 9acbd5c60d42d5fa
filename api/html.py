"""A plain HTML view of any JSON document, for OGC API's f=html: ``links`` are links, features a table."""

from __future__ import annotations

from html import escape
from typing import Any


def _value(value: Any) -> str:
    # Values are text, never links, even when they look like URLs: a record's name or any
    # other field is whatever a partner typed. Links come only from ``links`` and feature ids.
    if isinstance(value, (dict, list)):
        return f"<code>{escape(str(value))[:300]}</code>"
    return escape("" if value is None else str(value))


def _links(links: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<li><a href="{escape(link["href"])}">{escape(link.get("title") or link["href"])}</a> '
        f"<small>({escape(link.get('rel', ''))})</small></li>"
        for link in links
    )
    return f"<ul>{rows}</ul>"


def _features(features: list[dict[str, Any]]) -> str:
    if not features:
        return "<p>No features.</p>"
    columns = ["name", "owner", "use_category", "post_town", "rag", "value_gbp"]
    head = "".join(f"<th>{c}</th>" for c in ["id", *columns])
    body = "".join(
        "<tr>"
        + f'<td><a href="items/{escape(str(ft["id"]))}?f=html">{escape(str(ft["id"])[:8])}</a></td>'
        + "".join(f"<td>{_value(ft['properties'].get(c))}</td>" for c in columns)
        + "</tr>"
        for ft in features
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_document(title: str, doc: dict[str, Any]) -> str:
    parts = [f"<h1>{escape(title)}</h1>"]
    if doc.get("type") == "FeatureCollection":
        parts.append(f"<p>{doc.get('numberReturned', 0)} of {doc.get('numberMatched', '?')} buildings</p>")
        parts.append(_features(doc["features"]))
    elif doc.get("type") == "Feature":
        rows = "".join(
            f"<tr><th>{escape(k)}</th><td>{_value(v)}</td></tr>" for k, v in doc["properties"].items()
        )
        parts.append(f"<table>{rows}</table>")
    else:
        for key, value in doc.items():
            if key in ("links",):
                continue
            if key == "collections":
                items = "".join(
                    f'<li><a href="collections/{escape(c["id"])}?f=html">{escape(c["title"])}</a> — '
                    f"{escape(c.get('description', ''))}</li>"
                    for c in value
                )
                parts.append(f"<h2>Collections</h2><ul>{items}</ul>")
            elif isinstance(value, list):
                parts.append(
                    f"<h2>{escape(key)}</h2><ul>" + "".join(f"<li>{_value(v)}</li>" for v in value) + "</ul>"
                )
            else:
                parts.append(f"<p><b>{escape(key)}</b>: {_value(value)}</p>")
    if doc.get("links"):
        parts.append("<h2>Links</h2>" + _links(doc["links"]))
    style = (
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
