// The client side of /ws/race: turns the reader's intentions (train, pause, step, reset, look at
// a point) into protocol messages, tracks the race's phase, and restores the reader's race after
// a dropped connection (the server forgets a session when its socket closes).
import { connect } from "../../lib/socket.js";
import { FrameDecoder, SUBPROTOCOL, binaryFramesSupported } from "./wire.js";

const AUTO_INFER_MS = 400; // refresh the chosen point's readout during training, gently

export class RaceSession {
  /**
   * view: {race(info), frame(frame), state(phase), inference(result, {auto}),
   *        error(error), connection(status), restored(step)}
   */
  constructor(view, { initialSettings }) {
    this.view = view;
    this.settings = { ...initialSettings };  // what the reader last asked for (speed included)
    this.hasRace = false;
    this.phase = "idle";                     // idle | running | paused | finished
    this.currentStep = 0;
    this.point = null;                       // the reader's chosen point, re-asked as the nets learn
    this.inferInFlight = false;
    this.lastInfer = null;                   // {x, y, auto} of the newest infer sent
    this.lastInferAt = 0;
    this.catchUp = null;                     // {target, running} while replaying after a reconnect
    this.viewportPaused = false;
    this.idleClosed = false;                 // the server closed an idle session (code 1001)
    this.resumeAfterRestore = false;
    this.afterRestore = null;                // the reader's messages held while an idle close is undone
    this.socket = connect("/ws/race", {
      onMessage: (message) => this.receive(message),
      onStatus: (status) => view.connection(status),
      onOpen: ({ reconnected }) => this.opened(reconnected),
      shouldRetry: (code) => !(code === 1001 && this.idleClosed),
      // Frames as compressed binary deltas (race/wire.js), decoded into the same frame objects.
      ...(binaryFramesSupported()
        ? { protocols: [SUBPROTOCOL], binaryDecoder: () => new FrameDecoder() }
        : {}),
    });
  }

  send(message) {
    if (this.idleClosed) {
      // The reader is back after a long pause: reopen, let opened() restore their race, and then
      // carry out what they just asked for (and anything else they ask meanwhile).
      this.idleClosed = false;
      this.afterRestore = [];
      this.socket.reconnect();
    }
    if (this.afterRestore) {
      this.afterRestore.push(message);
      return true;
    }
    return this.socket.send(message);
  }

  /** Straight to the socket: the restore's own messages never wait behind the reader's. */
  transmit(message) {
    return this.socket.send(message);
  }

  /** The race is back where the reader left it: now do what they asked for while it came back. */
  restoreFinished() {
    const queued = this.afterRestore || [];
    this.afterRestore = null;
    for (const message of queued) this.transmit(message);
  }

  opened(reconnected) {
    this.inferInFlight = false;
    if (!reconnected || !this.hasRace) {
      // Show the data and the untrained nets at once; Train then only has to resume.
      this.transmit({ type: "start", settings: this.settings });
      this.transmit({ type: "reset" });
      this.view.state(this.phase);
      this.restoreFinished();
      return;
    }
    const target = this.currentStep;
    const running = (this.phase === "running" && !this.viewportPaused) || this.resumeAfterRestore;
    this.resumeAfterRestore = false;
    if (target === 0) {
      this.transmit({ type: "start", settings: this.settings });
      if (!running) this.transmit({ type: "reset" });
      this.restoreFinished();
      return;
    }
    // Runs are deterministic, so the server can hand back exactly the step the reader was on
    // (and the nets that click inference uses there): the race resumes where it stood.
    this.catchUp = { target, running };
    this.transmit({ type: "start", settings: this.settings, at_step: target });
    if (running) this.transmit({ type: "resume" });
  }

  receive(message) {
    switch (message.type) {
      case "race":
        this.hasRace = true;
        if (!this.catchUp) this.view.race(message);
        break;
      case "frame":
        if (this.catchUp) {
          if (message.step < this.catchUp.target) return;
          this.finishCatchUp(message);
        }
        this.currentStep = message.step;
        this.view.frame(message);
        this.autoInfer();
        break;
      case "state":
        if (this.catchUp) return;
        this.currentStep = message.step;
        this.setPhase(message.done || message.step >= message.steps ? "finished"
          : message.running ? "running" : "paused");
        this.autoInfer(); // a readout taken mid-run should end on the step the race stopped at
        break;
      case "inference":
        this.inferInFlight = false;
        this.view.inference(message, { auto: this.isRefresh(message) });
        if (message.step !== this.currentStep) this.autoInfer();
        break;
      case "error":
        if (message.code === "idle") this.idleClosed = true;
        this.inferInFlight = false;
        this.view.error(message);
        break;
      default:
        break; // newer servers may say more; this client ignores what it doesn't know
    }
  }

  finishCatchUp(frame) {
    const { running } = /** @type {{target: number, running: boolean}} */ (this.catchUp);
    this.catchUp = null;
    this.setPhase(frame.step >= frame.steps ? "finished" : running ? "running" : "paused");
    this.view.restored(frame.step);
    if (this.point) this.infer(this.point.x, this.point.y, { auto: true });
    this.restoreFinished();
  }

  setPhase(phase) {
    this.phase = phase;
    this.view.state(phase);
  }

  /** Start a new race when asked to, or when the old one can't simply continue. */
  startNew(settings) {
    this.settings = { ...settings };
    this.point = null;
    this.catchUp = null;
    this.send({ type: "start", settings: this.settings });
  }

  train(settings, changed) {
    this.viewportPaused = false;
    if (this.phase === "running" && !changed) return;
    const fresh = changed || !this.hasRace || this.phase === "finished";
    if (fresh) this.startNew(settings);
    else this.send({ type: "resume" });
    this.view.started(this.settings, fresh || this.currentStep === 0 ? 0 : this.currentStep);
  }

  pause() {
    this.viewportPaused = false;
    this.send({ type: "pause" });
  }

  step(settings, changed) {
    if (changed || !this.hasRace) {
      this.startNew(settings);
      this.send({ type: "reset" });
    }
    this.send({ type: "step" });
  }

  reset(settings, changed) {
    this.viewportPaused = false;
    if (changed || !this.hasRace) this.startNew(settings);
    this.send({ type: "reset" });
  }

  setSpeed(stepsPerFrame) {
    this.settings.speed = stepsPerFrame;
    if (this.hasRace && !this.catchUp) this.send({ type: "speed", steps_per_frame: stepsPerFrame });
  }

  /** The reader chose a point (auto: a refresh of that point as training moves on). */
  infer(x, y, { auto = false } = {}) {
    this.point = { x, y };
    if (!this.hasRace || this.catchUp) return false;
    if (!this.send({ type: "infer", x, y })) return false;
    this.inferInFlight = true;
    this.lastInfer = { x, y, auto };
    this.lastInferAt = performance.now();
    return true;
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

  /** The widget left the viewport: stop the race there so the reader finds it where they left it. */
  leaveViewport() {
    if (this.phase === "running" && this.send({ type: "pause" })) this.viewportPaused = true;
  }

  enterViewport() {
    // Back after the server closed the idle session: the restore resumes what the page paused.
    if (this.viewportPaused && this.idleClosed) this.resumeAfterRestore = true;
    if (this.viewportPaused && this.phase === "paused") this.send({ type: "resume" });
    this.viewportPaused = false;
  }

  dropConnection() {
    this.socket.drop();
  }
}
