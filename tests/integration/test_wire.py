"""Binary frames over the real socket (app/web/wire.py, docs/protocol.md "Binary frames"): a client
that offers the subprotocol decodes exactly the frame texts a JSON client reads, whether it reads
fast, slowly (conflated: keyframes after skips) or reconnects (a keyframe first); and a run's frames
are encoded once for all its viewers."""

from __future__ import annotations

import json
import time
from itertools import pairwise

from app.engine.race import Race, RaceSettings
from app.web.frames import frame_text
from app.web.wire import DELTA, HEADER, KEY, SUBPROTOCOL, WireDecoder
from integration.conftest import receive
from integration.raw_websocket import BINARY, TEXT, RawWebSocket


def kind_of(message: bytes) -> int:
    return HEADER.unpack_from(message)[0]


def engine_frames(steps: int, wanted: set[int], seed: int = 0) -> dict[int, str]:
    """The frame texts a fresh engine run gives at the wanted steps: what every client must decode."""
    race = Race(RaceSettings(steps=steps, seed=seed))
    texts = {}
    for step in sorted(wanted):
        race.advance_to(step)
        texts[step] = frame_text(race.snapshot(grid=True), steps, race.settings.theta)
    return texts


def read_binary_race(ws, until) -> list[tuple[int, bytes, str]]:
    """(kind, message, decoded text) of every binary message a TestClient socket reads until a text
    message matches `until`; every other message must be text (JSON)."""
    decoder, seen = WireDecoder(), []
    while True:
        message = ws.receive()
        if message.get("bytes") is not None:
            data = message["bytes"]
            seen.append((kind_of(data), data, decoder.decode(data)))
        elif until(json.loads(message["text"])):
            return seen


def test_a_binary_client_decodes_every_frame_as_the_json_client_reads_it_byte_for_byte(client):
    settings = {"type": "start", "settings": {"steps": 60, "speed": 3}}
    with client.websocket_connect("/ws/race") as plain:
        plain.send_text(json.dumps(settings))
        texts, finished = [], False
        while not finished:
            text = plain.receive_text()
            message = json.loads(text)
            texts += [text] if message["type"] == "frame" else []
            finished = message["type"] == "state" and message["done"]
    with client.websocket_connect("/ws/race", subprotocols=[SUBPROTOCOL]) as ws:
        assert ws.accepted_subprotocol == SUBPROTOCOL
        ws.send_text(json.dumps(settings))
        seen = read_binary_race(ws, lambda m: m["type"] == "state" and m["done"])
    assert [text for _, _, text in seen] == texts  # the same strings: byte for byte
    assert [kind for kind, _, _ in seen] == [KEY] + [DELTA] * (len(texts) - 1)
    assert sum(len(data) for _, data, _ in seen) * 2 < sum(map(len, texts))


def test_a_client_not_offering_the_subprotocol_gets_json_text_frames(client):
    with client.websocket_connect("/ws/race", subprotocols=["something-else"]) as ws:
        assert ws.accepted_subprotocol is None
        ws.send_text(json.dumps({"type": "start", "settings": {"steps": 8}}))
        assert [receive(ws)["type"] for _ in range(3)] == ["race", "frame", "state"]


def test_binary_messages_from_the_client_are_still_refused(client):
    with client.websocket_connect("/ws/race", subprotocols=[SUBPROTOCOL]) as ws:
        ws.send_bytes(b'{"type": "start"}')
        assert receive(ws)["code"] == "not_text"
        ws.send_text(json.dumps({"type": "start", "settings": {"steps": 8}}))
        assert receive(ws)["type"] == "race"  # the socket stayed open and usable


def test_a_binary_clients_deltas_are_made_in_the_engine_not_in_the_event_loop(client):
    settings = {"steps": 48, "speed": 4, "seed": 91}
    with client.websocket_connect("/ws/race", subprotocols=[SUBPROTOCOL]) as ws:
        ws.send_text(json.dumps({"type": "start", "settings": settings}))
        seen = read_binary_race(ws, lambda m: m["type"] == "state" and m["done"])
    expected = engine_frames(48, set(range(0, 49, 4)), seed=91)
    assert {json.loads(text)["step"]: text for _, _, text in seen} == expected
    assert [kind for kind, _, _ in seen] == [KEY] + [DELTA] * (len(expected) - 1)
    codec = client.app.state.cache.record(RaceSettings(steps=48, seed=91)).codec
    # The first frame's KEY is made by the server; every DELTA came from the engine with its frame.
    assert codec.encoded_by_engine == len(expected) - 1
    assert codec.encoded == len(expected)


def test_json_clients_cost_the_engine_no_encoding(client):
    with client.websocket_connect("/ws/race") as ws:
        ws.send_text(json.dumps({"type": "start", "settings": {"steps": 24, "seed": 92}}))
        while not ((m := receive(ws))["type"] == "state" and m["done"]):
            pass
    assert client.app.state.cache.record(RaceSettings(steps=24, seed=92)).codec.encoded == 0


def test_a_classroom_on_one_seed_costs_one_encoding_per_frame_not_one_per_viewer(make_client):
    client = make_client(sessions_per_client=12)
    settings = {"steps": 40, "speed": 4, "seed": 77}
    sockets = [client.websocket_connect("/ws/race", subprotocols=[SUBPROTOCOL]) for _ in range(12)]
    try:
        for ws in sockets:
            ws.__enter__()
            ws.send_text(json.dumps({"type": "start", "settings": settings}))
        received = [read_binary_race(ws, lambda m: m["type"] == "state" and m["done"]) for ws in sockets]
    finally:
        for ws in sockets:
            ws.__exit__(None, None, None)
    expected = engine_frames(40, set(range(0, 41, 4)), seed=77)
    for seen in received:
        assert {json.loads(text)["step"]: text for _, _, text in seen} == expected
    record = client.app.state.cache.record(RaceSettings(steps=40, seed=77))
    frames = len(expected)
    # Each viewer received `frames` messages; the run compressed at most a key and a delta per frame.
    assert sum(len(seen) for seen in received) >= 12 * frames
    assert frames <= record.codec.encoded <= 2 * frames


def read_for(ws: RawWebSocket, seconds: float, pace_bytes: int, decoder: WireDecoder) -> list[tuple[int, str]]:
    """Read at `pace_bytes` every 0.1 s (a slow link) for `seconds`: (kind, decoded text) per frame."""
    frames = []
    started = time.monotonic()
    next_read = started
    while time.monotonic() - started < seconds:
        for opcode, payload in ws.read(pace_bytes):
            assert opcode in (TEXT, BINARY)
            if opcode == BINARY:
                frames.append((kind_of(payload), decoder.decode(payload)))
        next_read += 0.1
        time.sleep(max(0.0, next_read - time.monotonic()))  # the reader's pace, not synchronisation
    return frames


def test_a_slow_reader_is_conflated_and_still_decodes_every_frame_exactly(live_server):
    server = live_server(frame_rate=50, steps_per_frame=2, send_window_bytes=8192, messages_per_second=30)
    ws = RawWebSocket(server.port, subprotocol=SUBPROTOCOL)
    try:
        assert ws.headers.get("sec-websocket-protocol") == SUBPROTOCOL
        ws.send_text(json.dumps({"type": "start", "settings": {"steps": 900}}))
        frames = read_for(ws, 4.0, 1000, WireDecoder())  # 10 KB/s, against about 40 KB/s offered
    finally:
        ws.close()
    steps = [json.loads(text)["step"] for _, text in frames]
    assert steps[0] == 0 and steps == sorted(steps)
    jumps = [b - a for a, b in pairwise(steps)]
    assert max(jumps) > 2, "frames were not conflated"
    kinds = [kind for kind, _ in frames]
    # After a skip the client holds no base for the next frame: it must be a keyframe.
    assert all(kind == KEY for kind, jump in zip(kinds[1:], jumps, strict=True) if jump > 2)
    assert [text for _, text in frames] == [engine_frames(900, set(steps))[step] for step in steps]


def read_messages(ws: RawWebSocket, decoder: WireDecoder, until, timeout_s: float = 30.0) -> list:
    """Messages (kind or "text", decoded text) until one matches `until`."""
    seen: list[tuple[int | str, str]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for opcode, payload in ws.read():
            if opcode == BINARY:
                seen.append((kind_of(payload), decoder.decode(payload)))
            elif opcode == TEXT:
                seen.append(("text", payload.decode()))
            if seen and until(seen[-1]):
                return seen
    raise AssertionError(f"nothing matched within {timeout_s} s: {seen[-3:]}")


def frame_step(entry) -> int | None:
    kind, text = entry
    return json.loads(text)["step"] if kind != "text" else None


def test_a_reconnect_gets_a_keyframe_and_then_the_same_frames_byte_for_byte(live_server):
    server = live_server(frame_rate=50)
    start = {"type": "start", "settings": {"steps": 120, "speed": 4}}
    first = RawWebSocket(server.port, subprotocol=SUBPROTOCOL)
    try:
        first.send_text(json.dumps(start))
        before = read_messages(first, WireDecoder(), lambda entry: (frame_step(entry) or 0) >= 40)
    finally:
        first.close()  # the connection drops at step 40 (or a little later)
    stood = frame_step(before[-1])
    again = RawWebSocket(server.port, subprotocol=SUBPROTOCOL)
    try:
        decoder = WireDecoder()  # a new connection: the client holds nothing to apply a delta to
        again.send_text(json.dumps({**start, "at_step": stood}))
        restored = read_messages(again, decoder, lambda entry: frame_step(entry) is not None)
        again.send_text(json.dumps({"type": "resume"}))
        after = read_messages(again, decoder, lambda entry: entry[0] == "text" and json.loads(entry[1]).get("done"))
    finally:
        again.close()
    kind, text = restored[-1]
    assert kind == KEY and text == before[-1][1]  # the frame the reader had, byte for byte
    frames = [entry for entry in after if entry[0] != "text"]
    steps = [json.loads(text)["step"] for _, text in frames]
    assert steps == list(range(stood + 4, 121, 4))
    assert all(kind == DELTA for kind, _ in frames[1:])
    expected = engine_frames(120, set(steps))
    assert [text for _, text in frames] == [expected[step] for step in steps]
