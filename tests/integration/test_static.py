"""What a page costs on the wire: compressed text, assets cached under versioned URLs that change
when the files do, and stable addresses (embed.js) that other sites keep revalidating."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest

from app.web.static import static_version

ROOT = Path(__file__).resolve().parents[2]
ASSET = re.compile(r'(?:href|src|data-src)="(/static/[^"]+)"')


def assets(html: str) -> list[str]:
    return ASSET.findall(html)


@pytest.mark.parametrize("path", ["/", "/embed/race", "/api/scorecard"])
def test_pages_and_json_are_gzipped_when_the_client_accepts_it(client, path):
    response = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert response.content == plain.content  # httpx decoded it: the same document either way


def test_every_asset_a_page_links_is_versioned_immutable_and_compressed(client):
    html = client.get("/").text
    linked = assets(html)
    assert linked and all(url.startswith("/static/v/") for url in linked), linked
    for url in linked:
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", url
        if url.endswith((".css", ".js", ".json")) and len(response.content) > 500:
            assert response.headers.get("content-encoding") == "gzip", url


def test_module_imports_resolve_under_the_same_version(client):
    main = next(url for url in assets(client.get("/").text) if url.endswith("/js/main.js"))
    # main.js imports ./widgets/<name>.js relatively: the browser asks under the same versioned prefix.
    sibling = main.replace("/js/main.js", "/js/widgets/race.js")
    response = client.get(sibling)
    assert response.status_code == 200 and "immutable" in response.headers["cache-control"]


def test_stable_addresses_are_revalidated_by_etag(client):
    first = client.get("/static/embed.js")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/static/embed.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_the_version_changes_exactly_when_a_static_file_does(tmp_path):
    copy = tmp_path / "static"
    shutil.copytree(ROOT / "app" / "static", copy)
    before = static_version(copy)
    assert static_version(copy) == before
    target = copy / "css" / "theme.css"
    target.write_text(target.read_text() + "\n/* changed */\n")
    assert static_version(copy) != before


def test_another_releases_version_gets_todays_files_but_never_kept_under_its_name(client):
    # During a rolling restart a page rendered by one release asks a replica of another for its
    # assets: it gets this replica's files, which a browser must not keep for a year under the
    # other release's version (that would pin these bytes to it), so they are revalidated.
    own_url = next(url for url in assets(client.get("/").text) if url.endswith("/js/main.js"))
    assert "/000000000000/" not in own_url
    own, other = client.get(own_url), client.get("/static/v/000000000000/js/main.js")
    assert own.status_code == other.status_code == 200
    assert other.content == own.content
    assert "immutable" in own.headers["cache-control"]
    assert other.headers["cache-control"] == "no-cache"
    assert other.headers["etag"] == own.headers["etag"]


def test_the_article_travels_at_under_a_third_of_its_size(client):
    with client.stream("GET", "/", headers={"Accept-Encoding": "gzip"}) as response:
        wire = b"".join(response.iter_raw())
    assert len(wire) < len(gzip.decompress(wire)) / 3
