// The digits figure: FF and backprop learning real handwritten digits live (/ws/digits), and a
// drawing pad whose digit both nets read: the ready network over HTTP (POST /api/digits/infer,
// answers before any training) or the reader's own live run over the socket, as it learns.
import { readPalette } from "../lib/canvas.js";
import { percent } from "../lib/format.js";
import { requestJSON } from "../lib/http.js";
import { renderAnswer } from "./digits/answer.js";
import { ErrorChart } from "./digits/chart.js";
import { decodeImage, describeImage, paintDigit } from "./digits/image.js";
import { DrawingPad } from "./digits/pad.js";
import { DigitsSession } from "./digits/session.js";
import { Strip, renderGoodness } from "./digits/strip.js";

const LIVE_REFRESH_MS = 600;  // a digit read by the live run is read again this often while it trains
const SOURCE_NAME = { ready: "Ready network", live: "Your live run" };
const CONNECTION_TEXT = {
  connecting: "Connecting to the training server…",
  reconnecting: "Connection lost; reconnecting… (your run will come back where it was)",
  reconnected: "Reconnected.",
  open: "",
};

export function mount(root) {
  const ref = (name) => root.querySelector(`[data-ref="${name}"]`);
  const control = (name) => root.querySelector(`[data-control="${name}"]`);
  const chart = new ErrorChart(ref("chart"));
  const text = {
    progress: root.querySelector(".readout-progress"),
    ffError: root.querySelector(".readout-ff-error"),
    bpError: root.querySelector(".readout-bp-error"),
    progressText: ref("progress-text"),
    connection: ref("connection"),
    answer: ref("answer-text"),
    announce: ref("announce"),
    input: ref("input-text"),
  };
  const answerBody = ref("answer").querySelector("tbody");
  const goodnessBody = ref("goodness").querySelector("tbody");
  const inputCanvas = ref("input");
  paintDigit(inputCanvas, new Uint8Array(784));

  let info = null;
  let strip = null;
  let digit = null;          // the reader's digit: {strokes} or {heldout}
  let asked = 0;             // HTTP answers arrive in order of asking; older ones are dropped
  let lastLiveAsk = 0;
  let livePending = false;
  let visible = true;
  let drawRequested = false;
  let viewportPaused = false;
  let announceNext = false;  // the reader asked for this answer: say it (refreshes while training are not)
  let runReady;
  const ready = Promise.all([
    new Promise((resolve) => { runReady = resolve; }),
    requestJSON("/api/digits/heldout").then(({ digits }) => {
      strip = new Strip(ref("strip"), digits, (chosen) => {
        pad.clear();
        strip.select(chosen.index);
        read({ heldout: chosen.index });
      });
      root.dataset.loaded = "true";
    }),
  ]);

  const source = () => root.querySelector('input[name="digits-source"]:checked')?.value ?? "ready";
  const settings = () => ({
    // Within the bounds the server rendered on the input (app/web/pages.py, digits_defaults).
    seed: Math.min(Number(control("seed").max), Math.max(Number(control("seed").min), Math.floor(Number(control("seed").value) || 0))),
    negatives: control("negatives").value,
  });

  function requestDraw() {
    if (drawRequested || !visible) return;
    drawRequested = true;
    requestAnimationFrame(() => {
      drawRequested = false;
      chart.draw();
    });
  }

  /** @param {import("./digits/answer.js").DigitInference} result */
  function show(result) {
    const pixels = decodeImage(result.image);
    paintDigit(inputCanvas, pixels);
    text.input.textContent = describeImage(pixels);
    const name = result.source === "live" ? `${SOURCE_NAME.live} at minibatch ${result.step}` : SOURCE_NAME.ready;
    text.answer.textContent = renderAnswer(answerBody, result, { sourceName: name });
    if (announceNext) {
      announceNext = false;
      text.announce.textContent = text.answer.textContent;
    }
    Object.assign(root.dataset, {
      ffLabel: String(result.ff.label), backpropLabel: String(result.backprop.label), answerSource: result.source,
    });
  }

  async function read(query) {
    digit = query;
    announceNext = true;
    root.dataset.answerFor = "heldout" in query ? `heldout-${query.heldout}` : "drawing";
    if (source() === "live") {
      askLive(true);
      return;
    }
    const ticket = ++asked;
    text.answer.textContent = "Reading…";
    try {
      const result = await requestJSON("/api/digits/infer", { body: query });
      if (ticket === asked && source() === "ready") show(result);
    } catch (error) {
      if (ticket === asked) text.answer.textContent = `The server could not read it: ${error.message}`;
    }
  }

  function askLive(now = false) {
    if (!digit || source() !== "live") return;
    if (!now && (livePending || performance.now() - lastLiveAsk < LIVE_REFRESH_MS)) return;
    if (session.infer(digit)) {
      livePending = true;
      lastLiveAsk = performance.now();
      if (now) text.answer.textContent = "Reading…";
    } else if (now) {
      text.answer.textContent = "Your live run is not connected yet; it will read your digit once it is.";
    }
  }

  const pad = new DrawingPad(ref("pad"), {
    color: () => readPalette(["ink"]).ink,
    onStroke: (strokes) => {
      strip?.select(-1);
      read({ strokes });
    },
  });

  const view = {
    run(message) {
      info = message;
      chart.reset(message.steps, message.batches_per_epoch);
      ref("theta").textContent = String(message.theta);
      runReady();
    },
    frame(frame) {
      chart.add(frame.step, frame.ff.error, frame.backprop.error);
      const epoch = frame.epoch.toFixed(1);
      text.progress.textContent = `${frame.step} (epoch ${epoch})`;
      text.ffError.textContent = percent(frame.ff.error);
      text.bpError.textContent = percent(frame.backprop.error);
      text.progressText.textContent = `After ${frame.step} of ${frame.steps} minibatches (epoch ${epoch}): `
        + `Forward-Forward misreads ${percent(frame.ff.error)} of the 200 held-out digits, backprop ${percent(frame.backprop.error)}.`;
      ref("chart").setAttribute("aria-label", `Held-out error curves. ${text.progressText.textContent}`);
      renderGoodness(goodnessBody, frame.goodness, info?.theta ?? Number(ref("theta").textContent));  // the server-rendered θ until the run's info
      strip?.show(frame.guesses);
      root.dataset.step = String(frame.step);
      requestDraw();
      askLive();
    },
    phase(phase) {
      root.dataset.phase = phase;
      root.querySelector('[data-action="train"]').setAttribute("aria-pressed", String(phase === "running"));
      if (phase !== "running" && digit && source() === "live") askLive(true);
    },
    inference(message) {
      livePending = false;
      if (source() === "live") show(message);
    },
    error(error) {
      livePending = false;
      text.connection.textContent = error.message;
    },
    connection(status) {
      text.connection.textContent = CONNECTION_TEXT[status.state] ?? "";
    },
  };
  const session = new DigitsSession(view, settings());

  root.addEventListener("click", (event) => {
    const action = event.target.closest?.("[data-action]")?.dataset.action;
    if (!action) return;
    text.connection.textContent = "";
    viewportPaused = false;
    if (action === "train") session.train(settings());
    else if (action === "pause") session.pause();
    else if (action === "reset") {
      session.reset(settings());
      chart.reset(chart.steps, chart.perEpoch);
      requestDraw();
    } else if (action === "clear") {
      pad.clear();
      digit = null;
      strip?.select(-1);
      answerBody.replaceChildren();
      paintDigit(inputCanvas, new Uint8Array(784));
      text.input.textContent = "Nothing drawn yet.";
      text.answer.textContent = "Draw a digit or choose one above to see both networks read it.";
    }
  });
  for (const radio of root.querySelectorAll('input[name="digits-source"]')) {
    radio.addEventListener("change", () => {
      if (digit) read(digit);
      root.dataset.source = source();
    });
  }
  // No ff-widget:settings events: the article's URL carries the 2-D race's settings (its `seed`
  // is the race's); the Embed button asks settings() for this figure's own.
  if (root.dataset.autoplay === "true") ready.then(() => session.train(settings()));

  root.digitsDebug = { dropConnection: () => session.dropConnection(), strokes: () => pad.strokes };
  return {
    ready,
    settings,
    pause() {
      visible = false;
      if (session.phase === "running") {
        viewportPaused = true;
        session.pause();
      }
    },
    resume() {
      visible = true;
      requestDraw();
      if (viewportPaused) {
        viewportPaused = false;
        session.resume();
      }
    },
  };
}
