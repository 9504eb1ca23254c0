// The race client's phases and every move between them, as one table (session.js carries the moves
// out). Pure data and pure functions: no DOM, no socket, so `node --test` checks it as it is
// (tests/js/race-session.test.mjs).
//
//                  open                  said:<phase> (the server's `state`)
//   connecting ───────────▶ starting ──────────────────────────┐
//       ▲        lost          │                                ▼
//       └──────────────────────┘            running ◀──said──▶ paused ◀──said──▶ finished
//                                              │                  ▲        (the live phases)
//                                        leave ▼                  │ enter (resume sent)
//                                             away ───────────────┘
//                                  (paused by the page: the widget left the viewport)
//
//   a live phase ── lost ──▶ reconnecting ── open ──▶ restoring ── back:<plan> ──▶ that live phase
//    (remembered     │             ▲  │                 │  (`start` at_step: the reader's very step)
//     as the plan)   │             │  └── open:at-zero ──▶ starting (at step 0 there is nothing to restore)
//                    │             └──────── lost ───────┘ (and from closed: the socket retried after all)
//                    └── idle ──▶ closed ── a press, a click, the slider, or back in view ──▶ reconnecting
//
// What the reader asks for while the connection is down or the race is coming back (reconnecting,
// restoring, closed) is held and sent once it is back, or, for the speed and a chosen point,
// remembered and asked again then (issue 10: no press is lost); a press in `closed` reopens the socket.
// An event a phase does not list cannot happen there (the buttons are disabled, the socket is
// closed): session.js warns once and ignores it.

/** @typedef {"connecting" | "starting" | "running" | "paused" | "finished" | "away"
 *   | "reconnecting" | "restoring" | "closed"} Phase */
/** @typedef {"running" | "paused" | "finished" | "away" | "idle"} Plan  the race to bring back */
/**
 * Socket: open, open:at-zero, lost, shut. Server: race, frame, said:*, back:*, idle.
 * Reader: train, pause, step, reset, speed, point (a chosen point), leave, enter (the viewport).
 * @typedef {"open" | "open:at-zero" | "lost" | "shut" | "race" | "frame"
 *   | "said:running" | "said:paused" | "said:finished"
 *   | "back:running" | "back:paused" | "back:away" | "back:finished" | "idle"
 *   | "train" | "pause" | "step" | "reset" | "speed" | "point" | "leave" | "enter"} RaceEvent
 */
/** @typedef {[Phase, string | null]} Move  the next phase and the action (a RaceSession method) */

export const PHASES = /** @type {const} */ ([
  "connecting", // no race yet; the socket is opening (the first time, or again after a drop before the race came)
  "starting",   // the socket is open, `start` sent; waiting for the server's first `state`
  "running",    // the live phases: the race as the server's last `state` said
  "paused",
  "finished",
  "away",       // live, paused by the page because the widget left the viewport; resumed when it returns
  "reconnecting", // the socket dropped and is retrying; the plan says which phase to bring back
  "restoring",  // open again, `start` with `at_step` sent; waiting for the frame at the reader's step
  "closed",     // the server closed the idle session (code 1001): no retry until the reader acts
]);

/** The reader's presses: sent when live, held while the race is away. */
const PRESSES = ["train", "pause", "step", "reset", "speed", "point"];
/** Presses that end a viewport pause: the reader took the race over from the page. */
const TAKING_OVER = new Set(["train", "pause", "reset"]);

/** @param {Phase} phase @returns {Record<string, Move>} what a live phase does with each event */
function live(phase) {
  /** @type {Record<string, Move>} */
  const moves = {
    lost: ["reconnecting", "rememberRace"],
    idle: ["closed", "rememberRace"],
    race: [phase, "showRace"],            // a new race the reader started
    frame: [phase, "showFrame"],
    "said:running": ["running", "mirrorState"],
    "said:paused": ["paused", "mirrorState"],
    "said:finished": ["finished", "mirrorState"],
  };
  for (const press of PRESSES) moves[press] = [phase, "send"];
  return moves;
}

/** @type {Readonly<Record<Phase, Readonly<Record<string, Move>>>>} */
export const TRANSITIONS = deepFreeze({
  connecting: {
    open: ["starting", "startFresh"],
    lost: ["connecting", null],           // each retry
    speed: ["connecting", null],          // kept in the settings the first `start` carries
    point: ["connecting", null],          // kept; asked once the race is live
    // No train/pause/step/reset: main.js holds presses until the race is ready.
  },
  starting: {
    lost: ["connecting", null],
    idle: ["closed", "rememberRace"],
    race: ["starting", "showRace"],
    frame: ["starting", "showFrame"],
    "said:running": ["running", "mirrorState"],
    "said:paused": ["paused", "mirrorState"],
    "said:finished": ["finished", "mirrorState"],
    train: ["starting", "send"],
    pause: ["starting", "send"],
    step: ["starting", "send"],
    reset: ["starting", "send"],
    speed: ["starting", null],
    point: ["starting", null],
  },
  running: { ...live("running"), leave: ["away", "pauseForViewport"] },
  paused: live("paused"),
  finished: live("finished"),
  away: {
    ...live("away"),
    // The page's own pause may still be on its way: the race stays the page's until it returns.
    "said:running": ["away", "mirrorState"],
    "said:paused": ["away", "mirrorState"],
    train: ["paused", "send"],            // the reader took over: no resume when the widget returns
    pause: ["paused", "send"],
    reset: ["paused", "send"],
    enter: ["paused", "resumeFromViewport"],
  },
  reconnecting: {
    open: ["restoring", "restore"],
    "open:at-zero": ["starting", "restartAtZero"],
    lost: ["reconnecting", null],         // each retry
    ...holdPresses("reconnecting"),
    speed: ["reconnecting", null],        // the restore's `start` carries the settings, speed included
    point: ["reconnecting", null],        // the restore asks about the point again
    leave: ["reconnecting", "planAway"],
    enter: ["reconnecting", "planRunning"],
  },
  restoring: {
    lost: ["reconnecting", null],         // plan and held presses kept for the next open
    idle: ["closed", null],
    race: ["restoring", null],            // the race already on screen
    frame: ["restoring", null],           // a frame before the reader's step
    "said:running": ["restoring", null],  // the restore's own answers; back:<plan> sets the phase
    "said:paused": ["restoring", null],
    "said:finished": ["restoring", null],
    "back:running": ["running", "finishRestore"],
    "back:paused": ["paused", "finishRestore"],
    "back:away": ["away", "finishRestore"],
    "back:finished": ["finished", "finishRestore"],
    ...holdPresses("restoring"),
    point: ["restoring", null],           // finishRestore asks about the point
    leave: ["restoring", "pauseWhenBack"],
    enter: ["restoring", "resumeWhenBack"],
  },
  closed: {
    shut: ["closed", null],
    lost: ["reconnecting", null],         // the socket retries by itself after all: a plain drop
    ...Object.fromEntries(PRESSES.map((press) => [press,
      /** @type {Move} */ (["reconnecting", TAKING_OVER.has(press) ? "reopenTakingOver" : "reopen"])])),
    leave: ["closed", "planAway"],        // nothing to pause on a closed socket: only the plan changes
    enter: ["reconnecting", "reopenToResume"],
  },
});

/** @param {Phase} phase @returns {Record<string, Move>} */
function holdPresses(phase) {
  return Object.fromEntries(PRESSES.map((press) => [press,
    /** @type {Move} */ ([phase, TAKING_OVER.has(press) ? "holdTakingOver" : "hold"])]));
}

/** @template T @param {T} value @returns {T} */
function deepFreeze(value) {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The move for `event` in `phase`, or null when the phase does not expect it.
 *  @param {Phase} phase @param {string} event @returns {Move | null} */
export function transition(phase, event) {
  return Object.hasOwn(TRANSITIONS[phase] ?? {}, event) ? TRANSITIONS[phase][event] : null;
}

/** The event a `state` message is: what the server said the race is doing.
 *  @param {{step: number, steps: number, running: boolean, done?: boolean}} state @returns {RaceEvent} */
export function stateEvent(state) {
  if (state.done || state.step >= state.steps) return "said:finished";
  return state.running ? "said:running" : "said:paused";
}

/** The event the frame at the reader's step is while restoring: back to the plan, unless the race is over.
 *  @param {{step: number, steps: number}} frame @param {Plan} plan @returns {RaceEvent} */
export function backEvent(frame, plan) {
  if (frame.step >= frame.steps) return "back:finished";
  return plan === "running" || plan === "away" ? `back:${plan}` : "back:paused";
}

/** The race's phase as the reader last knew it: what a press means (Train on a running race does
 *  nothing; Train on a finished one starts anew). "idle": no race yet.
 *  @param {Phase} phase @param {Plan} plan @returns {Plan} */
export function racePhase(phase, plan) {
  switch (phase) {
    case "running": case "paused": case "finished": case "away": return phase;
    case "reconnecting": case "restoring": case "closed": return plan;
    default: return "idle";
  }
}
