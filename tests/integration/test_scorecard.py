"""The scorecard is measured while the server starts (its warm-up), not by a reader's request."""

from __future__ import annotations

import pytest

from app.web import create_app, scorecard

from .conftest import TestClient, make_settings


@pytest.fixture
def measurements(monkeypatch) -> list[int]:
    """Counts the real measurements in this process from now on (none is cached yet)."""
    calls: list[int] = []
    real = scorecard.measure_scorecard

    def counting() -> dict:
        calls.append(1)
        return real()

    monkeypatch.setattr(scorecard, "measure_scorecard", counting)
    monkeypatch.setattr(scorecard, "_measured", None)
    return calls


def test_the_first_request_finds_the_scorecard_measured(measurements):
    app = create_app(make_settings())
    assert measurements == [] and not app.state.scorecard.measured  # creating the app measures nothing
    with TestClient(app) as client:
        # The lifespan started the measurement (the replica's warm-up, app/web/readiness.py); once it
        # is over, with no request made yet, the scorecard is measured and the replica ready.
        async def warmed_up() -> None:
            await app.state.warming

        assert client.portal is not None
        client.portal.call(warmed_up)
        assert measurements == [1] and app.state.scorecard.measured
        assert client.get("/readyz").json()["status"] == "ready"
        page = client.get("/")
        assert page.status_code == 200
        figures = client.get("/api/scorecard").json()
        assert measurements == [1]  # neither the page nor the API measured again
        assert figures["steps_to_95_percent"]["backprop"] is not None


def test_apps_in_one_process_share_one_measurement(measurements):
    for _ in range(2):
        with TestClient(create_app(make_settings())) as client:
            assert client.get("/api/scorecard").status_code == 200
    assert measurements == [1]
