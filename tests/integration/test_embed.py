"""/embed/{widget} and /oembed over HTTP: settings from the query, clear refusals, framing policy."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.websockets import WebSocketDisconnect

from app.engine.race import RaceSettings
from app.web.widget_settings import MIN_EMBED_WIDTH, WIDGETS

SLUGS = list(WIDGETS)


def csp(response) -> str:
    return response.headers["content-security-policy"]


def oembed_link(html: str) -> str:
    match = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)" title="[^"]+">', html)
    assert match, "no oEmbed discovery link"
    return match.group(1).replace("&amp;", "&")


@pytest.mark.parametrize("slug", SLUGS)
def test_each_widget_has_an_embed_page_with_discovery_and_a_wide_frame_policy(client, slug):
    response = client.get(f"/embed/{slug}")
    assert response.status_code == 200
    assert f'data-widget="{slug}"' in response.text
    assert "frame-ancestors *" in csp(response)
    assert 'rel="icon"' in response.text  # base.html's favicon is kept
    assert "js/embed-frame.js" in response.text  # it reports its height to the host
    # The discovery link points at this server's /oembed for this very page.
    link = urlsplit(oembed_link(response.text))
    assert (link.netloc, link.path) == ("testserver", "/oembed")
    assert parse_qs(link.query)["url"] == [f"http://testserver/embed/{slug}"]
    described = client.get(oembed_link(response.text))
    assert described.status_code == 200 and described.json()["type"] == "rich"


def test_every_declared_control_exists_in_its_widget(client):
    for slug, widget in WIDGETS.items():
        page = client.get(f"/embed/{slug}").text
        for control in widget.controls:
            assert f'data-embed-control="{control}"' in page, (slug, control)


def test_the_article_keeps_its_own_narrow_frame_policy(make_client):
    client = make_client(embed_frame_ancestors="https://moodle.example.edu")
    assert "frame-ancestors 'self'" in csp(client.get("/"))
    assert "frame-ancestors 'self'" in csp(client.get("/api/scorecard"))
    assert "frame-ancestors https://moodle.example.edu" in csp(client.get("/embed/race"))


def test_race_settings_from_the_query_reach_the_widget(client):
    page = client.get(
        "/embed/race?dataset=spiral&seed=3&theta=4.5&learning_rate=0.01&steps=300"
        "&speed=10&autoplay=1&controls=train,reset"
    ).text
    assert '<option value="spiral" selected>' in page
    assert re.search(r'name="seed"[^>]*value="3"', page)
    assert re.search(r'name="theta"[^>]*value="4.5"', page)
    assert re.search(r'name="learning_rate"[^>]*value="0.01"', page)
    assert re.search(r'name="steps" value="300"', page)
    assert re.search(r'name="speed"[^>]*value="10"', page)
    assert 'data-steps="300"' in page and 'data-autoplay="true"' in page
    assert 'data-controls="train,reset"' in page


def test_autoplay_is_off_by_default_and_controls_none_hides_all(client):
    page = client.get("/embed/steps?controls=none").text
    assert 'data-autoplay="false"' in page and 'data-controls=""' in page


def test_goodness_theta_from_the_query_sets_the_slider(client):
    page = client.get("/embed/goodness?theta=3.5").text
    assert re.search(r'data-control="theta" min="1.0" max="10.0" step="0.5" value="3.5"', page)


@pytest.mark.parametrize(
    "query, message",
    [
        ("/embed/race?theta=99", "theta must be a number in [0.05, 50.0]; got 99."),
        ("/embed/race?seed=abc", "seed must be an integer in [0, 2147483647]; got &#39;abc&#39;."),
        ("/embed/race?seed=-1", "seed must be an integer in [0, 2147483647]; got -1."),
        ("/embed/race?dataset=galaxy", "dataset must be one of disk-ring, spiral, xor, moons"),
        ("/embed/race?learning_rate=nan", "learning_rate must be a number in [0.0001, 0.5]; got nan."),
        ("/embed/race?steps=1e9", "steps must be an integer in [1, 5000]"),
        ("/embed/race?speed=500", "speed must be an integer in [1, 50]"),
        ("/embed/race?autoplay=maybe", "autoplay must be 1 or 0"),
        ("/embed/race?controls=train,fly", "controls must be all, none, or a comma-separated list of train, pause"),
        ("/embed/goodness?theta=0.2", "theta must be a multiple of 0.5 in [1.0, 10.0]"),
        ("/embed/goodness?theta=2.3", "theta must be a multiple of 0.5 in [1.0, 10.0]"),
    ],
)
def test_a_bad_value_gets_a_400_page_naming_the_parameter_and_range(client, query, message):
    response = client.get(query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text
    assert "What /embed/" in response.text  # the table of what is accepted
    assert "frame-ancestors *" in csp(response)  # shown inside the course's frame


def test_the_error_table_states_the_engines_bounds(client):
    page = client.get("/embed/race?theta=99").text
    low, high, _ = RaceSettings.bounds()["theta"]
    assert f"a number in [{low}, {high}]" in page
    assert ", ".join(RaceSettings.CHOICES["dataset"]) in page


def test_unknown_parameters_are_ignored_so_host_scripts_can_add_theirs(client):
    assert client.get("/embed/race?childId=ff-1&parentUrl=x&initialWidth=600").status_code == 200


def test_an_unknown_widget_gets_a_404_page(client):
    response = client.get("/embed/backprop")
    assert response.status_code == 404
    assert "no widget named &#39;backprop&#39;" in response.text
    assert "race, goodness, normalization, steps, label" in response.text


def test_the_article_reads_a_link_and_falls_back_with_a_notice(client):
    page = client.get("/?dataset=spiral&seed=3").text
    assert '<option value="spiral" selected>' in page and re.search(r'name="seed"[^>]*value="3"', page)
    assert "query-notice" not in page
    response = client.get("/?dataset=spiral&seed=abc&theta=99")
    assert response.status_code == 200
    assert '<option value="spiral" selected>' in response.text  # the good value still applies
    assert re.search(r'name="seed"[^>]*value="0"', response.text)  # the bad ones: defaults
    assert "query-notice" in response.text
    assert "seed must be an integer" in response.text and "theta must be a number" in response.text


# -- oEmbed -------------------------------------------------------------------------------------


def test_oembed_describes_an_embed_url_of_this_server(client):
    response = client.get("/oembed", params={"url": "http://testserver/embed/race?seed=3&childId=x", "format": "json"})
    assert response.status_code == 200
    data = response.json()
    assert {key: data[key] for key in ("type", "version", "provider_name")} == {
        "type": "rich",
        "version": "1.0",
        "provider_name": "Forward-Forward, explained",
    }
    assert data["provider_url"] == "http://testserver/"
    assert data["title"].startswith(WIDGETS["race"].title)
    assert (data["width"], data["height"]) == (800, WIDGETS["race"].height)
    # The iframe carries the validated settings only (the host's own childId is dropped).
    assert data["html"].startswith('<iframe src="http://testserver/embed/race?seed=3" ')
    assert f'width="800" height="{WIDGETS["race"].height}"' in data["html"]


def test_oembed_honours_maxwidth_and_maxheight(client):
    data = client.get(
        "/oembed", params={"url": "http://testserver/embed/label", "maxwidth": "400", "maxheight": "300"}
    ).json()
    assert (data["width"], data["height"]) == (400, 300)
    assert 'width="400" height="300"' in data["html"]
    wide = client.get("/oembed", params={"url": "http://testserver/embed/label", "maxwidth": "5000"}).json()
    assert wide["width"] == 800


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize(
    "maxwidth, maxheight",
    [
        (None, None),
        ("1200", "5000"),
        ("800", None),
        ("375", None),
        ("320", "700"),
        ("200", "200"),
        (None, "1"),
    ],
)
def test_oembed_never_exceeds_the_limits_and_says_when_the_frame_must_scroll(client, slug, maxwidth, maxheight):
    params = {"url": f"http://testserver/embed/{slug}", "format": "json"}
    params |= {key: value for key, value in (("maxwidth", maxwidth), ("maxheight", maxheight)) if value}
    data = client.get("/oembed", params=params).json()
    widget = WIDGETS[slug]
    assert data["width"] <= int(maxwidth or 800) and data["height"] <= int(maxheight or widget.height)
    assert f'width="{data["width"]}" height="{data["height"]}"' in data["html"]
    # The content's height is the widget's at a phone's width, its tallest: with it the frame never
    # scrolls inside at any width from 320 px up; cut below it (or narrower than 320 px), it does.
    assert data["content_height"] == widget.height
    cut = data["height"] < widget.height or data["width"] < MIN_EMBED_WIDTH
    assert data["scrolls"] is cut
    if not maxheight and int(maxwidth or 800) >= MIN_EMBED_WIDTH:
        assert (data["height"], data["scrolls"]) == (widget.height, False)


@pytest.mark.parametrize("path", ["/", *(f"/embed/{slug}" for slug in SLUGS)])
def test_no_control_can_submit_a_form_or_act_before_the_script_runs(client, path):
    """A press before the widget's script has loaded must not submit a form and reload the page:
    there is no form, every button is type="button", and each is disabled until main.js holds presses."""
    page = client.get(path).text
    assert "<form" not in page
    buttons = re.findall(r"<button\b[^>]*>", page)
    assert buttons or path == "/embed/label"  # the label figure has a menu and radios only
    for button in buttons:
        assert 'type="button"' in button, button
        if "data-action=" in button:
            assert " disabled" in button and "data-awaits-script" in button, button


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example/embed/race",  # another site
        "http://testserver.evil.example/embed/race",
        "http://testserver/embed/backprop",  # no such widget
        "http://testserver/",  # not an embed URL
        "javascript:alert(1)",
        "http://testserver/embed/race?theta=99",  # bad settings
        "",
    ],
)
def test_oembed_refuses_unknown_or_foreign_urls_with_a_json_404(client, url):
    response = client.get("/oembed", params={"url": url, "format": "json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]


def test_oembed_refuses_other_formats_with_501_and_bad_limits_with_400(client):
    response = client.get("/oembed", params={"url": "http://testserver/embed/race", "format": "xml"})
    assert response.status_code == 501 and "format=json" in response.json()["error"]
    response = client.get("/oembed", params={"url": "http://testserver/embed/race", "maxwidth": "-3"})
    assert response.status_code == 400 and "maxwidth" in response.json()["error"]
    # Digits str.isdigit() accepts but int() refuses ("²", 5,000 of them) are a 400 too, not a 500.
    for bad in ("\u00b2", "9" * 5000):
        response = client.get("/oembed", params={"url": "http://testserver/embed/race", "maxheight": bad})
        assert response.status_code == 400 and "maxheight" in response.json()["error"]


# -- sockets across origins ---------------------------------------------------------------------


def test_a_framed_widget_needs_no_wider_socket_allow_list(client):
    """The frame's document is this server's, so its socket's Origin is our own: accepted with the
    default (empty) FF_ALLOWED_ORIGINS, while a course site's own origin is still refused."""
    with client.websocket_connect("/ws/race", headers={"origin": "http://testserver"}) as ws:
        ws.send_json({"type": "start", "settings": {"steps": 4}})
        assert ws.receive_json()["type"] == "race"
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws/race", headers={"origin": "https://moodle.example.edu"}):
            pass
    assert 'ff_refusals_total{reason="origin"} 1.0' in client.get("/metrics").text


def test_the_readmes_frame_heights_are_the_widgets_own():
    """The README's table of frame heights for course pages is the settings table's, not a copy that drifts."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = dict(
        (slug, (int(tall), int(wide)))
        for slug, tall, wide in re.findall(r"^\| `(\w+)` \| (\d+) \| (\d+) \|$", readme, re.MULTILINE)
    )
    assert rows == {slug: (widget.height, widget.wide_height) for slug, widget in WIDGETS.items()}


# -- a configured public origin -----------------------------------------------------------------

PUBLIC = "https://ff.example.edu"


def test_with_a_public_origin_absolute_urls_use_it_whatever_the_host_header(make_client):
    client = make_client(public_origin=PUBLIC)
    page = client.get("/embed/race?seed=3", headers={"host": "rebound.evil.example"}).text
    link = urlsplit(oembed_link(page))
    assert f"{link.scheme}://{link.netloc}" == PUBLIC
    assert parse_qs(link.query)["url"] == [f"{PUBLIC}/embed/race?seed=3"]
    assert "evil" not in page  # static assets are paths on this server, never built from Host
    described = client.get("/oembed", params={"url": f"{PUBLIC}/embed/race"}).json()
    assert described["html"].startswith(f'<iframe src="{PUBLIC}/embed/race"')
    assert described["provider_url"] == f"{PUBLIC}/"
    # The request's own Host no longer names this server.
    assert client.get("/oembed", params={"url": "http://testserver/embed/race"}).status_code == 404


@pytest.mark.parametrize(
    "origin, host, allowed",
    [
        (PUBLIC, "testserver", True),
        ("https://course.example", "testserver", True),  # the allow-list
        ("http://testserver", "testserver", False),  # the Host is not trusted
        ("http://rebound.evil.example", "rebound.evil.example", False),  # a DNS-rebinding page
    ],
)
def test_with_a_public_origin_the_socket_trusts_it_not_the_host_header(make_client, origin, host, allowed):
    client = make_client(public_origin=PUBLIC, allowed_origins="https://course.example")
    headers = {"origin": origin, "host": host}
    if allowed:
        with client.websocket_connect("/ws/race", headers=headers) as ws:
            ws.send_json({"type": "start", "settings": {"steps": 4}})
            assert ws.receive_json()["type"] == "race"
    else:
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect("/ws/race", headers=headers):
                pass
