// The shared websocket client (app/static/js/lib/socket.js) through a fake WebSocket: a close with
// 1012 (service restart, a replica draining) reconnects at once, without backoff and without being
// reported as a fault; a second 1012 with nothing received in between backs off, so a server that
// keeps restarting is not hammered. Run by `make test` (and alone: node --test tests/js/).
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";

class FakeSocket {
  static OPEN = 1;
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = {};
    FakeSocket.made.push(this);
  }
  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }
  emit(type, event = {}) {
    if (type === "open") this.readyState = FakeSocket.OPEN;
    for (const listener of this.listeners[type] ?? []) listener(event);
  }
  send() {}
  close() {}
}

const settle = () => new Promise((resolve) => setImmediate(resolve)); // the client's inbox is a promise chain

let timers;
beforeEach(() => {
  FakeSocket.made = [];
  timers = [];
  globalThis.WebSocket = FakeSocket;
  globalThis.location = { protocol: "http:", host: "example.test" };
  globalThis.window = { addEventListener() {} };
  globalThis.document = { addEventListener() {}, visibilityState: "visible" };
  globalThis.originalSetTimeout ??= globalThis.setTimeout;
  globalThis.setTimeout = (callback, delay) => {
    timers.push({ callback, delay });
    return timers.length;
  };
});
afterEach(() => {
  globalThis.setTimeout = globalThis.originalSetTimeout;
});

const { connect, SERVICE_RESTART } = await import("../../app/static/js/lib/socket.js");

describe("a service restart (close 1012)", () => {
  it("reconnects at once, says it is a restart, and never reports a fault", async () => {
    const statuses = [];
    connect("/ws/race", { onMessage() {}, onStatus: (status) => statuses.push(status) });
    assert.equal(FakeSocket.made.length, 1);
    FakeSocket.made[0].emit("open");
    FakeSocket.made[0].emit("message", { data: JSON.stringify({ type: "state" }) });
    FakeSocket.made[0].emit("close", { code: SERVICE_RESTART, reason: "" });
    await settle();
    assert.equal(FakeSocket.made.length, 2, "a new socket right away");
    assert.equal(timers.length, 0, "no backoff timer");
    assert.deepEqual(statuses.at(-1), { state: "reconnecting", attempt: 0, restart: true });
    FakeSocket.made[1].emit("open");
    assert.deepEqual(statuses.at(-1), { state: "reconnected", restart: true });
    assert.ok(statuses.every((status) => status.state !== "closed"));
  });

  it("backs off on a second 1012 with nothing received in between", async () => {
    const statuses = [];
    connect("/ws/race", { onMessage() {}, onStatus: (status) => statuses.push(status) });
    FakeSocket.made[0].emit("open");
    FakeSocket.made[0].emit("close", { code: SERVICE_RESTART, reason: "" });
    await settle();
    FakeSocket.made[1].emit("open");
    FakeSocket.made[1].emit("close", { code: SERVICE_RESTART, reason: "" }); // again, at once
    await settle();
    assert.equal(FakeSocket.made.length, 2, "no third socket before the backoff");
    assert.equal(timers.length, 1);
    assert.ok(timers[0].delay >= 250 && timers[0].delay <= 500, `backoff ${timers[0].delay} ms`);
    assert.equal(statuses.at(-1).state, "reconnecting");
    assert.equal(statuses.at(-1).code, SERVICE_RESTART);
  });

  it("any other close waits for the backoff", async () => {
    connect("/ws/race", { onMessage() {} });
    FakeSocket.made[0].emit("open");
    FakeSocket.made[0].emit("close", { code: 1006, reason: "" });
    await settle();
    assert.equal(FakeSocket.made.length, 1);
    assert.equal(timers.length, 1);
    timers[0].callback();
    assert.equal(FakeSocket.made.length, 2, "the retry opens a new socket");
  });
});
