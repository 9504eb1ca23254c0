"""The CPU cost of the race's binary frames (app/web/wire.py): encoding, once per frame per run on the
server, and decoding, once per frame per client (Python's reference decoder, and the page's
app/static/js/widgets/race/wire.js in Debian's Chromium).

    python bench/wire.py            # the default race's 226 frames, 30 rounds
    python bench/wire.py --quick    # 5 rounds, no browser

Every figure is a median over rounds of the mean per frame, measured on the default race's real
frames (900 steps, 4 steps per frame); `frame text` is the time to build the frame's JSON text
from its snapshot (what the server already pays once per frame), as the reference."""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
import zlib
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.cpu import cpu_model  # noqa: E402
from app.engine.race import Race, RaceSettings  # noqa: E402
from app.web.frames import frame_text, frame_text_and_parts  # noqa: E402
from app.web.limits import OutFrame, SocketWriter  # noqa: E402
from app.web.wire import (  # noqa: E402
    HEADER,
    SKELETON_LENGTH,
    FrameCodec,
    FrameParts,
    WireDecoder,
    encode_delta,
    encode_key,
)


def default_race() -> tuple[dict[int, str], list]:
    race = Race(RaceSettings())
    snapshots, texts = [], {}
    while True:
        snapshot = race.snapshot(grid=True)
        snapshots.append(snapshot)
        texts[race.step_count] = frame_text(snapshot, race.settings.steps, race.settings.theta)
        if race.step_count >= race.settings.steps:
            return texts, snapshots
        race.advance_to(race.step_count + 4)


def per_frame_us(work, count: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.thread_time()
        work()
        samples.append((time.thread_time() - started) / count * 1e6)
    return statistics.median(samples)


def browser_decode_ms(messages: list[bytes], rounds: int) -> float:
    """app/static/js/widgets/race/wire.js decoding the race's messages in Chromium: median of rounds' mean per frame."""
    from playwright.sync_api import sync_playwright

    from bench._browser import CHROMIUM_ARGS, chromium_path

    source = (ROOT / "app" / "static" / "js" / "widgets" / "race" / "wire.js").read_text()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route("http://bench.invalid/wire.js", lambda r: r.fulfill(body=source, content_type="text/javascript"))
        page.route("http://bench.invalid/", lambda r: r.fulfill(body="<!doctype html><title>b</title>"))
        page.goto("http://bench.invalid/")
        result = page.evaluate(
            """async ([encoded, rounds]) => {
                const { FrameDecoder } = await import("/wire.js");
                const buffers = encoded.map((b) => Uint8Array.from(atob(b), (c) => c.charCodeAt(0)).buffer);
                const times = [];
                for (let round = 0; round < rounds; round += 1) {
                    const decoder = new FrameDecoder();
                    const started = performance.now();
                    for (const buffer of buffers) await decoder.decode(buffer);
                    times.push((performance.now() - started) / buffers.length);
                }
                times.sort((a, b) => a - b);
                return times[Math.floor(times.length / 2)];
            }""",
            [[base64.b64encode(m).decode() for m in messages], rounds],
        )
        browser.close()
    return float(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="5 rounds, no browser")
    args, _unknown = parser.parse_known_args()
    rounds = 5 if args.quick else args.rounds
    texts, snapshots = default_race()
    steps = sorted(texts)
    n = len(steps)
    parts = {step: FrameParts.of(texts[step]) for step in steps}
    messages = [encode_key(parts[0])] + [encode_delta(parts[a], parts[b]) for a, b in pairwise(steps)]

    def build_texts() -> None:
        for snapshot in snapshots:
            frame_text(snapshot, 900, 2.0)

    def split() -> None:
        for step in steps:
            FrameParts.of(texts[step])

    def text_then_split() -> None:  # what an engine process did for a binary viewer's run before
        for snapshot in snapshots:
            FrameParts.of(frame_text(snapshot, 900, 2.0))

    def text_and_parts() -> None:  # what it does now: both from the snapshot
        for snapshot in snapshots:
            frame_text_and_parts(snapshot, 900, 2.0)

    def deltas() -> None:
        encode_key(parts[0])
        for a, b in pairwise(steps):
            encode_delta(parts[a], parts[b])

    def deltas_level_1() -> None:  # the same deltas at zlib level 1 (not used: see docs/performance.md)
        for a, b in pairwise(steps):
            difference = np.subtract(parts[b].maps, parts[a].maps, dtype=np.uint8)
            zlib.compress(SKELETON_LENGTH.pack(len(parts[b].skeleton)) + parts[b].skeleton + difference.tobytes(), 1)

    def keys() -> None:
        for step in steps:
            encode_key(parts[step])

    def shared_stream() -> None:  # what the server pays per run: split + one key + a delta a frame
        codec = FrameCodec()
        codec.key(0, texts[0])
        for a, b in pairwise(steps):
            codec.delta(a, texts[a], b, texts[b])

    def classroom(viewers: int):
        def work() -> None:  # `viewers` sessions playing the run together: each frame to each of them
            codec = FrameCodec()
            writers = [SocketWriter(None, None, 1.0, None, binary=True) for _ in range(viewers)]
            for base, step in zip([None, *steps[:-1]], steps, strict=True):
                frame = OutFrame(texts[step], step, base, codec)
                for writer in writers:
                    writer.wire(frame)

        return work

    def decode() -> None:
        decoder = WireDecoder()
        for message in messages:
            decoder.decode(message)

    def deflate_per_client() -> None:  # permessage-deflate's cost: every client compresses every frame
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        for step in steps:
            compressor.compress(texts[step].encode())
            compressor.flush(zlib.Z_SYNC_FLUSH)

    figures = {
        "frame text (JSON, reference)": per_frame_us(build_texts, n, rounds),
        "split a frame (parse, base64 -> bytes)": per_frame_us(split, n, rounds),
        "frame text, then split it (engine, before)": per_frame_us(text_then_split, n, rounds),
        "frame text and split, both from the snapshot (engine, now)": per_frame_us(text_and_parts, n, rounds),
        "encode a delta (difference + zlib)": per_frame_us(deltas, n, rounds),
        "encode a delta at zlib level 1 (not used)": per_frame_us(deltas_level_1, n, rounds),
        "encode a keyframe (zlib)": per_frame_us(keys, n, rounds),
        "per run: split + delta, through the run's FrameCodec": per_frame_us(shared_stream, n, rounds),
        "a classroom of 60 viewers of one run, all of them": per_frame_us(classroom(60), n, rounds),
        "one viewer of a run": per_frame_us(classroom(1), n, rounds),
        "permessage-deflate, per viewer (zlib of the JSON text)": per_frame_us(deflate_per_client, n, rounds),
        "decode (Python reference decoder)": per_frame_us(decode, n, rounds),
    }
    level_1_bytes = len(messages[0]) + sum(
        HEADER.size
        + len(
            zlib.compress(
                SKELETON_LENGTH.pack(len(parts[b].skeleton))
                + parts[b].skeleton
                + np.subtract(parts[b].maps, parts[a].maps, dtype=np.uint8).tobytes(),
                1,
            )
        )
        for a, b in pairwise(steps)
    )
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)  # one connection's context, kept across messages
    deflate_bytes = sum(
        len(deflater.compress(texts[step].encode()) + deflater.flush(zlib.Z_SYNC_FLUSH)) - 4 for step in steps
    )  # each message drops the sync flush's 4-byte 00 00 ff ff tail (RFC 7692, 7.2.1)
    print(f"# bench/wire.py {' '.join(sys.argv[1:])}: {cpu_model()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(
        f"# the default race: {n} frames; JSON {sum(map(len, texts.values())):,} B; "
        f"binary {sum(map(len, messages)):,} B; at zlib level 1 {level_1_bytes:,} B; "
        f"JSON under permessage-deflate (level 6, 32 KB window, context kept) {deflate_bytes:,} B"
    )
    print("| per frame | CPU us |")
    print("| --- | ---: |")
    for name, value in figures.items():
        print(f"| {name} | {value:.1f} |")
    if not args.quick:
        print(f"| decode in Chromium (race/wire.js), ms | {browser_decode_ms(messages, rounds):.3f} |")
    print(json.dumps({name: round(value, 1) for name, value in figures.items()}))


if __name__ == "__main__":
    main()
