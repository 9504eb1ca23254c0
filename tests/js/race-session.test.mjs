// The race client's state machine (app/static/js/widgets/race/phases.js) and the session that carries
// it out (session.js), driven through a fake socket and a recording view: no browser, no build.
// Run by `make test` (and alone: node --test tests/js/).
import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";

import { PHASES, TRANSITIONS, backEvent, racePhase, stateEvent, transition } from "../../app/static/js/widgets/race/phases.js";
import { RaceSession } from "../../app/static/js/widgets/race/session.js";

const LIVE = ["running", "paused", "finished", "away"];

describe("the transition table", () => {
  it("has a row for every phase, and every move lands on a phase", () => {
    assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...PHASES].sort());
    for (const [phase, moves] of Object.entries(TRANSITIONS)) {
      for (const [event, [to]] of Object.entries(moves)) {
        assert.ok(PHASES.includes(to), `${event} in ${phase} goes to ${to}, not a phase`);
      }
    }
  });

  it("names only actions the session has", () => {
    for (const [phase, moves] of Object.entries(TRANSITIONS)) {
      for (const [event, [, action]] of Object.entries(moves)) {
        if (action === null) continue;
        assert.equal(typeof RaceSession.prototype[action], "function", `${event} in ${phase}: no action ${action}`);
      }
    }
  });

  it("reaches every phase from the first one", () => {
    const seen = new Set(["connecting"]);
    const queue = ["connecting"];
    while (queue.length) {
      for (const [to] of Object.values(TRANSITIONS[queue.shift()])) {
        if (!seen.has(to)) { seen.add(to); queue.push(to); }
      }
    }
    assert.deepEqual([...seen].sort(), [...PHASES].sort());
  });

  it("brings every live phase back as it was after a drop and after an idle close", () => {
    for (const phase of LIVE) {
      const walk = (events) => events.reduce((at, event) => {
        const move = transition(at, event);
        assert.ok(move, `${event} in ${at} (from ${phase})`);
        return move[0];
      }, phase);
      const back = `back:${phase}`;
      assert.equal(walk(["lost", "open", back]), phase);
      assert.equal(walk(["idle", "shut", "step", "lost", "open", back]), phase);
    }
  });

  it("answers null for an event a phase does not expect, and cannot be changed", () => {
    assert.equal(transition("connecting", "train"), null);
    assert.equal(transition("reconnecting", "frame"), null);
    assert.equal(transition("running", "toString"), null);
    assert.throws(() => { TRANSITIONS.running.lost[0] = "paused"; }, TypeError);
  });

  it("reads the server's state and the restored frame as events", () => {
    assert.equal(stateEvent({ step: 3, steps: 10, running: true }), "said:running");
    assert.equal(stateEvent({ step: 3, steps: 10, running: false }), "said:paused");
    assert.equal(stateEvent({ step: 10, steps: 10, running: false }), "said:finished");
    assert.equal(stateEvent({ step: 4, steps: 10, running: false, done: true }), "said:finished");
    assert.equal(backEvent({ step: 5, steps: 10 }, "running"), "back:running");
    assert.equal(backEvent({ step: 5, steps: 10 }, "away"), "back:away");
    assert.equal(backEvent({ step: 5, steps: 10 }, "finished"), "back:paused");
    assert.equal(backEvent({ step: 10, steps: 10 }, "running"), "back:finished");
    assert.equal(racePhase("closed", "away"), "away");
    assert.equal(racePhase("starting", "running"), "idle");
  });
});

/** A session on a fake socket: `sent` is what reached the server, `calls` what the view was told. */
function harness() {
  const sent = [];
  const calls = [];
  let options;
  const socket = {
    open: false,
    reconnects: 0,
    send(message) { if (!this.open) return false; sent.push(message); return true; },
    reconnect() { this.reconnects += 1; },
    drop() {},
  };
  const view = new Proxy({}, { get: (_, name) => (...args) => calls.push([name, ...args]) });
  const session = new RaceSession(view, {
    initialSettings: { seed: 1, speed: 4 },
    connect: (_path, given) => { options = given; return socket; },
  });
  const server = {
    open() {
      socket.open = true;
      options.onStatus({ state: "open" });
      options.onOpen({ reconnected: false });
    },
    drop(code = 4000) {
      socket.open = false;
      if (options.shouldRetry(code)) options.onStatus({ state: "reconnecting", attempt: 1, delay: 500, code });
      else options.onStatus({ state: "closed", code });
    },
    reopen() {
      socket.open = true;
      options.onStatus({ state: "reconnected" });
      options.onOpen({ reconnected: true });
    },
    say(message) { options.onMessage(message); },
    race() { this.say({ type: "race", settings: {} }); },
    frame(step, steps = 100) { this.say({ type: "frame", step, steps }); },
    state(step, running, steps = 100) { this.say({ type: "state", step, steps, running }); },
  };
  const take = () => sent.splice(0);
  const viewCalls = (name) => calls.filter(([called]) => called === name).map(([, ...args]) => args);
  return { session, server, socket, take, viewCalls, options: () => options };
}

/** Opened, its race shown and paused at `step` (the untrained nets when 0). */
function readyAt(step = 0) {
  const h = harness();
  h.server.open();
  h.server.race();
  h.server.frame(0);
  h.server.state(0, true);
  h.server.state(0, false);
  if (step) {
    h.server.frame(step);
    h.server.state(step, false);
  }
  h.take();
  return h;
}

describe("the session", () => {
  it("shows the untrained race on first open and is paused, ready for Train", () => {
    const h = harness();
    assert.equal(h.session.phase, "connecting");
    h.server.open();
    assert.deepEqual(h.take(), [{ type: "start", settings: { seed: 1, speed: 4 } }, { type: "reset" }]);
    assert.equal(h.session.phase, "starting");
    h.server.race();
    h.server.frame(0);
    h.server.state(0, true);
    h.server.state(0, false);
    assert.equal(h.session.phase, "paused");
    assert.deepEqual(h.viewCalls("state").map(([phase]) => phase), ["idle", "running", "paused"]);
  });

  it("Train resumes, a second Train while running sends nothing, changed settings start anew", () => {
    const h = readyAt(0);
    h.session.train({ seed: 1, speed: 4 }, false);
    assert.deepEqual(h.take(), [{ type: "resume" }]);
    h.server.state(0, true);
    h.session.train({ seed: 1, speed: 4 }, false);
    assert.deepEqual(h.take(), []);
    h.session.train({ seed: 2, speed: 4 }, true);
    assert.deepEqual(h.take(), [{ type: "start", settings: { seed: 2, speed: 4 } }]);
  });

  it("restores a running race after a drop at exactly its step, and says so", () => {
    const h = readyAt(0);
    h.session.train({ seed: 1, speed: 4 }, false);
    h.server.state(0, true);
    h.server.frame(40);
    h.take();
    h.server.drop();
    assert.equal(h.session.phase, "reconnecting");
    h.server.reopen();
    assert.deepEqual(h.take(), [
      { type: "start", settings: { seed: 1, speed: 4 }, at_step: 40 }, { type: "resume" }]);
    assert.equal(h.session.phase, "restoring");
    h.server.race();
    h.server.state(40, false);
    h.server.state(40, true);
    assert.equal(h.viewCalls("race").length, 1, "the restore's race is the one on screen");
    h.server.frame(44);
    assert.equal(h.session.phase, "running");
    assert.deepEqual(h.viewCalls("restored"), [[44]]);
  });

  it("restores a paused race paused (no resume), and a race at step 0 from the start", () => {
    const paused = readyAt(12);
    paused.server.drop();
    paused.server.reopen();
    assert.deepEqual(paused.take(), [{ type: "start", settings: { seed: 1, speed: 4 }, at_step: 12 }]);
    paused.server.frame(12);
    assert.equal(paused.session.phase, "paused");

    const fresh = readyAt(0);
    fresh.server.drop();
    fresh.server.reopen();
    assert.deepEqual(fresh.take(), [{ type: "start", settings: { seed: 1, speed: 4 } }, { type: "reset" }]);
    assert.equal(fresh.session.phase, "starting");
  });

  it("holds a press made while restoring and sends it once the race is back", () => {
    const h = readyAt(30);
    h.server.drop();
    h.server.reopen();
    h.take();
    h.session.step({ seed: 1, speed: 4 }, false);
    assert.deepEqual(h.take(), [], "not before the race is back");
    h.server.frame(30);
    assert.deepEqual(h.take(), [{ type: "step" }]);
  });

  it("after the server's idle close, the press that reconnects does its job after the restore", () => {
    const h = readyAt(25);
    h.server.say({ type: "error", code: "idle", message: "closed after a long pause" });
    h.server.drop(1001);
    assert.equal(h.session.phase, "closed");
    assert.deepEqual(h.viewCalls("connection").at(-1), [{ state: "closed", code: 1001 }]);
    h.session.train({ seed: 1, speed: 4 }, false);
    assert.equal(h.socket.reconnects, 1);
    assert.equal(h.session.phase, "reconnecting");
    h.options().onStatus({ state: "reconnecting", attempt: 0 });
    h.server.reopen();
    assert.deepEqual(h.take(), [{ type: "start", settings: { seed: 1, speed: 4 }, at_step: 25 }]);
    h.server.frame(25);
    assert.deepEqual(h.take(), [{ type: "resume" }]);
    assert.deepEqual(h.viewCalls("restored"), [[25]]);
  });

  it("a close other than the idle one is retried, even after the idle error", () => {
    const h = readyAt(5);
    h.server.say({ type: "error", code: "idle", message: "closed" });
    assert.equal(h.options().shouldRetry(1001), false);
    assert.equal(h.options().shouldRetry(1006), true);
    h.server.drop(1006);
    assert.equal(h.session.phase, "reconnecting");
  });

  it("pauses a running race as the widget leaves the viewport and resumes it on return", () => {
    const h = readyAt(0);
    h.session.train({ seed: 1, speed: 4 }, false);
    h.server.state(0, true);
    h.take();
    h.session.leaveViewport();
    assert.deepEqual(h.take(), [{ type: "pause" }]);
    h.server.state(4, true); // an answer sent before the pause reached the server
    h.server.state(8, false);
    assert.equal(h.session.phase, "away");
    h.session.enterViewport();
    assert.deepEqual(h.take(), [{ type: "resume" }]);
    h.session.enterViewport();
    assert.deepEqual(h.take(), [], "only the page's own pause is undone");
  });

  it("a race the page paused comes back paused after a drop, and resumes when the widget returns", () => {
    const h = readyAt(0);
    h.session.train({ seed: 1, speed: 4 }, false);
    h.server.state(0, true);
    h.session.leaveViewport();
    h.server.state(16, false);
    h.server.drop();
    h.server.reopen();
    assert.deepEqual(h.take().at(-1), { type: "start", settings: { seed: 1, speed: 4 }, at_step: 16 });
    h.server.frame(16);
    assert.equal(h.session.phase, "away");
    h.session.enterViewport();
    assert.deepEqual(h.take(), [{ type: "resume" }]);
  });

  it("back in view after the idle close of a race it paused: reconnects and the restore resumes", () => {
    const h = readyAt(0);
    h.session.train({ seed: 1, speed: 4 }, false);
    h.server.state(0, true);
    h.session.leaveViewport();
    h.server.state(20, false);
    h.server.say({ type: "error", code: "idle", message: "closed" });
    h.server.drop(1001);
    h.take();
    h.session.enterViewport();
    assert.equal(h.socket.reconnects, 1);
    h.server.reopen();
    assert.deepEqual(h.take(), [
      { type: "start", settings: { seed: 1, speed: 4 }, at_step: 20 }, { type: "resume" }]);
    h.server.frame(20);
    assert.equal(h.session.phase, "running");
  });

  it("warns once about an event its phase does not expect, and changes nothing", (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    const h = harness();
    h.server.frame(3);
    h.server.frame(4);
    assert.equal(h.session.phase, "connecting");
    assert.equal(h.viewCalls("frame").length, 0);
    assert.equal(warn.mock.callCount(), 1);
    mock.restoreAll();
  });
});
