"""Slow readers against a real uvicorn (app/web/transport.py and the session's writer): the server
measures what each client has read, conflates frames for a slow one, and closes one that reads
nothing with 1008 after the slow-reader timeout, holding a bounded amount for it meanwhile."""

from __future__ import annotations

import json
import time
import urllib.request
from itertools import pairwise

from integration.raw_websocket import CLOSE, TEXT, RawWebSocket

START = json.dumps({"type": "start", "settings": {"steps": 900}})


def metrics(server) -> dict[str, float]:
    with urllib.request.urlopen(server.base_url + "/metrics") as response:
        lines = response.read().decode().splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if line and not line.startswith("#")
    }


def test_a_client_reading_30_kb_a_second_sees_steps_jump_and_lags_under_2_s(live_server):
    server = live_server(frame_rate=20, steps_per_frame=4, messages_per_second=30)
    ws = RawWebSocket(server.port)
    frames = []  # (arrival, step)
    try:
        ws.send_text(START)
        started = time.monotonic()
        next_read = started
        while time.monotonic() - started < 7.0:  # a 30 KB/s link: 3,000 bytes every 0.1 s
            for opcode, payload in ws.read(3000):
                if opcode == TEXT and payload.startswith(b'{"type":"frame"'):
                    frames.append((time.monotonic(), json.loads(payload)["step"]))
            next_read += 0.1
            time.sleep(max(0.0, next_read - time.monotonic()))  # the reader's pace, not synchronisation
    finally:
        ws.close()
    steps = [step for _, step in frames]
    assert steps[0] == 0 and steps == sorted(steps)
    assert max(b - a for a, b in pairwise(steps)) > 4, "frames were not conflated"
    first = frames[0][0]
    # The race plays 80 steps a second from its first frame; lag is how far behind that a frame is read.
    lags = [((arrival - first) * 80 - step) / 80 for arrival, step in frames]
    assert max(lags) < 2.0, max(lags)
    assert metrics(server)["ff_frames_conflated_total"] > 0


def test_a_client_that_reads_nothing_is_closed_1008_after_the_timeout_holding_little(live_server):
    server = live_server(frame_rate=50, steps_per_frame=1, slow_reader_timeout_s=1.0)
    ws = RawWebSocket(server.port, rcvbuf=4096)
    try:
        ws.send_text(json.dumps({"type": "start", "settings": {"steps": 5000}}))
        started = time.monotonic()
        deadline = started + 30
        while time.monotonic() < deadline:  # poll the server's own account, never a fixed sleep
            seen = metrics(server)
            if seen.get('ff_refusals_total{reason="slow_reader"}') == 1.0 and seen["ff_live_sessions"] == 0.0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the client that reads nothing was not dropped")
        assert time.monotonic() - started >= 1.0
        # What the server sent it is bounded by the send window (40 KB, about 9 frames), not by the
        # socket buffers, and everything past that was conflated away.
        assert seen["ff_frames_sent_total"] <= 12 and seen["ff_frames_conflated_total"] > 20
        # When the client does read, the close it finds says why.
        codes = []
        for _ in range(1000):
            codes += [payload for opcode, payload in ws.read() if opcode == CLOSE]
            if codes or ws.close_code is not None:
                break
        assert ws.close_code == 1008
    finally:
        ws.close()
