// The client side of /ws/race: turns the reader's intentions (train, pause, step, reset, look at
// a point) into protocol messages, follows the race's phase, and restores the reader's race after
// a dropped connection (the server forgets a session when its socket closes).
//
// One variable, `phase`, says where the client is; phases.js holds the table of every move (event
// x phase -> next phase + action) with its diagram. This file turns what happens (a socket status,
// a server message, a press) into an event, looks the move up, and carries out its action, a
// method of the same name below. The data beside the phase: the reader's settings, the step on
// screen, the plan (the race to bring back after a drop) and the presses held until it is back.
import { connect as openSocket } from "../../lib/socket.js";
import { backEvent, racePhase, stateEvent, transition } from "./phases.js";
import { FrameDecoder, SUBPROTOCOL, binaryFramesSupported } from "./wire.js";

/** @typedef {import("./phases.js").Phase} Phase */
/** @typedef {import("./phases.js").Plan} Plan */
/** @typedef {import("../../lib/messages.js").ClientMessage} ClientMessage */

const AUTO_INFER_MS = 400; // refresh the chosen point's readout during training, gently
const GOING_AWAY = 1001;   // the close code of the server's idle timeout: stay closed until the reader acts

export class RaceSession {
  /**
   * view: {race(info), frame(frame), state(phase), started(settings, fromStep),
   *        inference(result, {auto}), error(error), connection(status), restored(step)}
   * connect: the socket client (lib/socket.js's; the unit tests pass a fake one).
   * @param {any} view
   * @param {{initialSettings: Record<string, any>, connect?: typeof openSocket}} options
   */
  constructor(view, { initialSettings, connect = openSocket }) {
    this.view = view;
    this.settings = { ...initialSettings };  // what the reader last asked for (speed included)
    /** @type {Phase} */
    this.phase = "connecting";
    /** @type {Plan} */
    this.plan = "idle";         // the race to bring back once the socket is open again
    /** @type {ClientMessage[]} */
    this.held = [];             // the reader's messages, sent once the race is back
    /** @type {"idle" | "running" | "paused" | "finished"} */
    this.shown = "idle";        // what the buttons show: the server's last word on the race
    this.currentStep = 0;       // the step on screen (the step a restore brings back)
    /** @type {{x: number, y: number} | null} */
    this.point = null;          // the reader's chosen point, re-asked as the nets learn
    this.inferInFlight = false;
    /** @type {{x: number, y: number, auto: boolean} | null} */
    this.lastInfer = null;      // the newest infer sent
    this.lastInferAt = 0;
    /** @type {Set<string>} */
    this.warned = new Set();
    this.socket = connect("/ws/race", {
      onMessage: (message) => this.receive(message),
      onStatus: (status) => {
        if (status.state === "reconnecting") this.dispatch("lost");
        else if (status.state === "closed") this.dispatch("shut");
        view.connection(status);
      },
      onOpen: () => {
        this.inferInFlight = false;
        this.dispatch(this.phase === "reconnecting" && (this.currentStep === 0 || this.plan === "idle")
          ? "open:at-zero" : "open");
      },
      shouldRetry: (code) => !(code === GOING_AWAY && this.phase === "closed"),
      // Frames as compressed binary deltas (wire.js), decoded into the same frame objects.
      ...(binaryFramesSupported()
        ? { protocols: [SUBPROTOCOL], binaryDecoder: () => new FrameDecoder() }
        : {}),
    });
  }

  /**
   * Make the move the table gives for `event` in the current phase: the phase changes first, then
   * the action runs (so what it asks of the session happens in the new phase). An event the phase
   * does not expect is reported once and ignored. Returns the action's result.
   * @param {import("./phases.js").RaceEvent} event
   * @param {any} [payload]
   */
  dispatch(event, payload) {
    const from = this.phase;
    const move = transition(from, event);
    if (!move) {
      const key = `${event} in ${from}`;
      if (!this.warned.has(key)) {
        this.warned.add(key);
        console.warn(`race session: ${key} was not expected; ignored`);
      }
      return undefined;
    }
    const [to, action] = move;
    this.phase = to;
    if (!action) return undefined;
    const run = /** @type {(payload: any, from: Phase) => any} */ (Reflect.get(this, action));
    return run.call(this, payload, from);
  }

  // ---- what happens, as events -------------------------------------------------------------

  receive(message) {
    switch (message.type) {
      case "race":
        this.dispatch("race", message);
        break;
      case "frame":
        this.dispatch(this.phase === "restoring" && message.step >= this.currentStep
          ? backEvent(message, this.plan) : "frame", message);
        break;
      case "state":
        this.dispatch(stateEvent(message), message);
        break;
      case "inference":
        this.inferInFlight = false;
        this.view.inference(message, { auto: this.isRefresh(message) });
        if (message.step !== this.currentStep) this.autoInfer();
        break;
      case "error":
        this.inferInFlight = false;
        if (message.code === "idle") this.dispatch("idle");
        this.view.error(message);
        break;
      default:
        break; // newer servers may say more; this client ignores what it doesn't know
    }
  }

  /** Train: resume the race, or start a new one when the settings changed or it is over. */
  train(settings, changed) {
    const race = racePhase(this.phase, this.plan);
    if (race === "running" && !changed) return;
    const fresh = changed || race === "idle" || race === "finished";
    this.dispatch("train", fresh ? [this.newRace(settings)] : [{ type: "resume" }]);
    this.view.started(this.settings, fresh || this.currentStep === 0 ? 0 : this.currentStep);
  }

  pause() {
    this.dispatch("pause", [{ type: "pause" }]);
  }

  step(settings, changed) {
    const fresh = changed || racePhase(this.phase, this.plan) === "idle";
    this.dispatch("step", [...(fresh ? [this.newRace(settings), { type: "reset" }] : []), { type: "step" }]);
  }

  reset(settings, changed) {
    const fresh = changed || racePhase(this.phase, this.plan) === "idle";
    this.dispatch("reset", [...(fresh ? [this.newRace(settings)] : []), { type: "reset" }]);
  }

  setSpeed(stepsPerFrame) {
    this.settings.speed = stepsPerFrame;
    this.dispatch("speed", [{ type: "speed", steps_per_frame: stepsPerFrame }]);
  }

  /** The reader chose a point (auto: a refresh of that point as training moves on). True when
   *  the question is on its way (sent, or held until the race is back). */
  infer(x, y, { auto = false } = {}) {
    this.point = { x, y };
    if (!this.dispatch("point", [{ type: "infer", x, y }])) return false;
    this.inferInFlight = true;
    this.lastInfer = { x, y, auto };
    this.lastInferAt = performance.now();
    return true;
  }

  /** The widget left the viewport: stop a running race there, so the reader finds it where they left it. */
  leaveViewport() {
    if (racePhase(this.phase, this.plan) === "running") this.dispatch("leave");
  }

  /** Back in the viewport: resume the race the page paused (and only that). */
  enterViewport() {
    if (racePhase(this.phase, this.plan) === "away") this.dispatch("enter");
  }

  dropConnection() {
    this.socket.drop();
  }

  // ---- actions (named in phases.js) --------------------------------------------------------

  /** First open: show the data and the untrained nets at once; Train then only has to resume. */
  startFresh() {
    this.transmit({ type: "start", settings: this.settings }, { type: "reset" });
    this.show("idle");
    this.sendHeld();
  }

  /** Open again with nothing to restore past step 0: start over, running if it was. */
  restartAtZero() {
    /** @type {ClientMessage[]} */
    const thenReset = this.plan === "running" ? [] : [{ type: "reset" }];
    this.transmit({ type: "start", settings: this.settings }, ...thenReset);
    this.plan = "idle";
    this.sendHeld();
  }

  /** Runs are deterministic, so the server can hand back exactly the step the reader was on (and
   *  the nets that click inference uses there): the race resumes where it stood. */
  restore() {
    /** @type {ClientMessage[]} */
    const thenResume = this.plan === "running" ? [{ type: "resume" }] : [];
    this.transmit({ type: "start", settings: this.settings, at_step: this.currentStep }, ...thenResume);
  }

  /** The frame at the reader's step: the race is back. Say so, ask about the point again, send
   *  what the reader asked for meanwhile, and show the frame. */
  finishRestore(frame) {
    this.show(this.phase === "away" ? "paused" : /** @type {"running" | "paused" | "finished"} */ (this.phase));
    this.plan = "idle";
    this.view.restored(frame.step);
    if (this.point) this.infer(this.point.x, this.point.y, { auto: true });
    this.sendHeld();
    this.showFrame(frame);
  }

  /** The connection went: remember the race's phase, to bring it back as it was. */
  rememberRace(_payload, from) {
    this.plan = racePhase(from, this.plan);
  }

  showRace(message) {
    this.view.race(message);
  }

  showFrame(frame) {
    this.currentStep = frame.step;
    this.view.frame(frame);
    this.autoInfer();
  }

  mirrorState(message) {
    this.currentStep = message.step;
    this.show(message.done || message.step >= message.steps ? "finished" : message.running ? "running" : "paused");
    this.autoInfer(); // a readout taken mid-run should end on the step the race stopped at
  }

  /** @param {ClientMessage[]} messages @returns {boolean} sent */
  send(messages) {
    return messages.map((message) => this.socket.send(message)).every(Boolean);
  }

  /** @param {ClientMessage[]} messages @returns {true} held: sent once the race is back */
  hold(messages) {
    this.held.push(...messages);
    return true;
  }

  /** A press that ends a viewport pause: the race comes back paused, then the press acts on it. */
  holdTakingOver(messages) {
    if (this.plan === "away") this.plan = "paused";
    return this.hold(messages);
  }

  /** The reader is back after the idle close: reopen, restore the race, then do what they asked. */
  reopen(messages) {
    this.socket.reconnect();
    return this.hold(messages);
  }

  reopenTakingOver(messages) {
    this.socket.reconnect();
    return this.holdTakingOver(messages);
  }

  /** Back in view after the idle close of a race the page paused: the restore resumes it. */
  reopenToResume() {
    this.plan = "running";
    this.socket.reconnect();
  }

  pauseForViewport() {
    this.send([{ type: "pause" }]);
  }

  resumeFromViewport() {
    this.send([{ type: "resume" }]);
  }

  /** Left the viewport while the race is away: bring it back paused, to resume on return. */
  planAway() {
    this.plan = "away";
  }

  planRunning() {
    this.plan = "running";
  }

  /** Left the viewport while the restore (which resumes a running race) is on its way. */
  pauseWhenBack() {
    this.plan = "away";
    this.hold([{ type: "pause" }]);
  }

  /** Back in view while a race the page paused is being restored (paused). */
  resumeWhenBack() {
    this.plan = "running";
    this.hold([{ type: "resume" }]);
  }

  // ---- helpers -----------------------------------------------------------------------------

  /** Straight to the socket: a restore's own messages never wait behind the reader's.
   *  @param {ClientMessage[]} messages */
  transmit(...messages) {
    for (const message of messages) this.socket.send(message);
  }

  /** The presses held while the race was away, in the order they were made. */
  sendHeld() {
    this.transmit(...this.held.splice(0));
  }

  /** @param {"idle" | "running" | "paused" | "finished"} phase */
  show(phase) {
    this.shown = phase;
    this.view.state(phase);
  }

  /** A `start` for a new race with these settings (and no point chosen in it yet).
   *  @returns {ClientMessage} */
  newRace(settings) {
    this.settings = { ...settings };
    this.point = null;
    return { type: "start", settings: this.settings };
  }

  /** The server answers only the newest of several quick clicks, so an answer is the reader's
   *  own click (worth announcing) only when it is for the point they chose last. */
  isRefresh(result) {
    const last = this.lastInfer;
    if (!last) return true;
    const same = Math.abs(result.x - last.x) < 1e-9 && Math.abs(result.y - last.y) < 1e-9;
    return !same || last.auto;
  }

  autoInfer() {
    if (!this.point || this.inferInFlight) return;
    // While running, at most a few a second; a single Step refreshes at once.
    if (this.phase === "running" && performance.now() - this.lastInferAt < AUTO_INFER_MS) return;
    this.infer(this.point.x, this.point.y, { auto: true });
  }
}
