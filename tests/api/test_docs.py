"""/docs and /redoc work offline: every URL they load is the app's own, and each answers."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient


class _Urls(HTMLParser):
    """src and href attributes, and quoted URLs inside inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.urls += re.findall(r"""['"]((?:https?:)?/[^'"\s]*)['"]""", data)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_only_local_assets_that_answer(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "http://" not in response.text and "https://" not in response.text  # no CDN, no fonts
    parser = _Urls()
    parser.feed(response.text)
    assert parser.urls, "the page references no assets"
    assert {"/openapi.json"} <= set(parser.urls)
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    scripts = [u for u in parser.urls if u.endswith(".js")]
    assert scripts and all(u.startswith("/static/vendor/") for u in scripts)


def test_landing_page_service_doc_is_the_local_docs(client: TestClient) -> None:
    links = client.get("/").json()["links"]
    service_doc = next(link["href"] for link in links if link["rel"] == "service-doc")
    assert service_doc.endswith("/docs")
    assert client.get(service_doc).status_code == 200
