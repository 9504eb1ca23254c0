// The client side of /ws/digits (docs/protocol.md): the reader's Train/Pause/Reset and digit
// queries become protocol messages, and a page that lost its socket gets its run back at the step
// it showed (runs are deterministic: `start` with `at_step` replays the same run to that step).
import { connect } from "../../lib/socket.js";

/**
 * Server -> client messages of /ws/digits.
 * @typedef {{type: "digits", settings: {seed: number, negatives: string, speed: number}, hidden: number[],
 *   epochs: number, batch_size: number, batches_per_epoch: number, steps: number, theta: number,
 *   eval_size: number, train_size: number, strip: {index: number[], labels: number[]}}} DigitsInfo
 * @typedef {{type: "frame", step: number, steps: number, epoch: number, ff: {error: number},
 *   backprop: {error: number}, goodness: {positive: number[], negative: number[]},
 *   guesses: {ff: string, backprop: string}}} DigitsFrame
 * @typedef {{type: "state", running: boolean, step: number, steps: number, speed: number, done: boolean}} DigitsState
 * @typedef {{type: "error", code: string, message: string}} DigitsError
 *
 * Client -> server.
 * @typedef {import("../../lib/messages.js").DigitsStartMessage} StartMessage
 * @typedef {{type: "pause"} | {type: "resume"} | {type: "step"} | {type: "reset"}} ControlMessage
 * @typedef {import("../../lib/messages.js").DigitsInferMessage} InferMessage
 */

export class DigitsSession {
  /**
   * @param {{run(info: DigitsInfo): void, frame(frame: DigitsFrame): void, phase(phase: string): void,
   *   inference(message: object): void, error(error: DigitsError): void, connection(status: object): void}} view
   * @param {{seed: number, negatives: string}} settings
   */
  constructor(view, settings) {
    this.view = view;
    this.settings = { ...settings };
    this.hasRun = false;
    this.phase = "idle";            // idle | running | paused | finished
    this.currentStep = 0;
    this.catchUp = null;            // {target, running} while a restore replays to the page's step
    this.idleClosed = false;
    this.queued = null;             // the reader's messages while an idle-closed socket reopens
    this.socket = connect("/ws/digits", {
      onMessage: (message) => this.receive(message),
      onStatus: (status) => view.connection(status),
      onOpen: ({ reconnected }) => this.opened(reconnected),
      shouldRetry: (code) => !(code === 1001 && this.idleClosed),
    });
  }

  /** @param {StartMessage | ControlMessage | InferMessage} message */
  send(message) {
    if (this.idleClosed) {
      this.idleClosed = false;
      this.queued = [];
      this.socket.reconnect();
    }
    if (this.queued) {
      this.queued.push(message);
      return true;
    }
    return this.socket.send(message);
  }

  flushQueued() {
    const queued = this.queued || [];
    this.queued = null;
    for (const message of queued) this.socket.send(message);
  }

  opened(reconnected) {
    if (!reconnected || !this.hasRun || this.currentStep === 0) {
      const running = reconnected && this.phase === "running";
      this.socket.send({ type: "start", settings: this.settings });
      if (!running) this.socket.send({ type: "reset" });
      this.flushQueued();
      return;
    }
    const running = this.phase === "running";
    this.catchUp = { target: this.currentStep, running };
    this.socket.send({ type: "start", settings: this.settings, at_step: this.currentStep });
    if (running) this.socket.send({ type: "resume" });
  }

  receive(message) {
    switch (message.type) {
      case "digits":
        this.hasRun = true;
        if (!this.catchUp) this.view.run(message);
        break;
      case "frame":
        if (this.catchUp) {
          if (message.step < this.catchUp.target) return;
          const { running } = this.catchUp;
          this.catchUp = null;
          this.setPhase(message.step >= message.steps ? "finished" : running ? "running" : "paused");
          this.flushQueued();
        }
        this.currentStep = message.step;
        this.view.frame(message);
        break;
      case "state":
        if (this.catchUp) return;
        this.currentStep = message.step;
        this.setPhase(message.done ? "finished" : message.running ? "running" : "paused");
        break;
      case "inference":
        this.view.inference(message);
        break;
      case "error":
        if (message.code === "idle") this.idleClosed = true;
        this.view.error(message);
        break;
      default:
        break;  // newer servers may say more
    }
  }

  setPhase(phase) {
    this.phase = phase;
    this.view.phase(phase);
  }

  train(settings) {
    const changed = settings.seed !== this.settings.seed || settings.negatives !== this.settings.negatives;
    if (changed || !this.hasRun || this.phase === "finished") {
      this.settings = { ...settings };
      this.currentStep = 0;
      this.send({ type: "start", settings: this.settings });
    } else if (this.phase !== "running") {
      this.send({ type: "resume" });
    }
  }

  pause() {
    this.send({ type: "pause" });
  }

  /** Go on after a pause the page made (the figure left the viewport): never a new run. */
  resume() {
    if (this.hasRun && this.phase === "paused") this.send({ type: "resume" });
  }

  reset(settings) {
    if (settings.seed !== this.settings.seed || settings.negatives !== this.settings.negatives) {
      this.settings = { ...settings };
      this.send({ type: "start", settings: this.settings });
    }
    this.currentStep = 0;
    this.send({ type: "reset" });
  }

  /** @param {{strokes: Array<Array<[number, number]>>} | {heldout: number}} digit */
  infer(digit) {
    if (!this.hasRun || this.catchUp) return false;
    return this.send({ type: "infer", ...digit });
  }

  dropConnection() {
    this.socket.drop();
  }
}
