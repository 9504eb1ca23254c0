// The step animation: one real training step of backprop and of FF, replayed side by side from
// the traces the engine recorded (GET /api/trace). Both sides advance on one shared clock of
// "moments"; moment k shows each trace after its first k events.
import { fitCanvas, prefersReducedMotion, readPalette } from "../lib/canvas.js";
import { describeState, drawSteps, traceState } from "./steps/view.js";
import { formatBytes } from "../lib/format.js";
import { requestJSON } from "../lib/http.js";

const ALGORITHMS = ["backprop", "forward-forward"];
const MOMENT_MS = 700;  // one event per 0.7 s at 1x: slow enough to read the status line

export function mount(root) {
  const panes = ALGORITHMS.map((algorithm) => {
    const element = root.querySelector(`.steps-pane[data-algorithm="${algorithm}"]`);
    return {
      algorithm,
      element,
      canvas: element.querySelector("canvas"),
      meter: element.querySelector(".memory-track"),
      fill: element.querySelector(".memory-fill"),
      value: element.querySelector(".memory-value"),
      status: element.querySelector(".steps-status"),
      title: element.querySelector(".pane-title").textContent,
      trace: /** @type {any} */ (null), // the recorded trace (GET /api/trace), set before the first draw
    };
  });
  const playButton = root.querySelector('[data-action="play"]');
  const stepButton = root.querySelector('[data-action="step"]');
  const restartButton = root.querySelector('[data-action="restart"]');
  const speedInput = root.querySelector('[data-control="speed"]');
  const speedOutput = root.querySelector(".speed-value");
  const tickNow = root.querySelector(".tick-now");
  const tickTotal = root.querySelector(".tick-total");
  const palette = readPalette(["ink", "ink-soft", "paper", "paper-soft", "positive", "negative",
    "backprop", "ff", "update", "memory"]);
  const reducedMotion = prefersReducedMotion();

  let moment = 0;
  let totalMoments = 0;
  let peakBytes = 1;
  let playing = false;
  let visible = true;
  let frame = 0;
  let sinceMoment = 0;
  let lastTime = 0;
  let speed = Number(speedInput.value) || 1;
  let sized = [];

  // Until the traces arrive, main.js holds presses on the buttons (this module's `ready`).
  const controls = [playButton, stepButton, restartButton, speedInput];

  function resize() {
    sized = panes.map((pane) => fitCanvas(pane.canvas));
  }

  function draw(progress = 1) {
    const rows = Math.max(...panes.map((pane) => pane.trace.layer_sizes.length + (pane.algorithm === "backprop" ? 1 : 0)));
    panes.forEach((pane, i) => {
      const state = traceState(pane.trace, moment);
      const { context, width, height } = sized[i];
      drawSteps(context, width, height, pane.trace, state, palette, { rows, progress: reducedMotion ? 1 : progress });
    });
  }

  // Text, data- attributes and the meters change once per moment, not once per frame.
  function publish() {
    root.dataset.tick = String(moment);
    root.dataset.ticks = String(totalMoments);
    root.dataset.playing = String(playing);
    tickNow.textContent = String(moment);
    tickTotal.textContent = String(totalMoments);
    for (const pane of panes) {
      const state = traceState(pane.trace, moment);
      const event = state.current;
      const element = pane.element;
      element.dataset.eventIndex = event ? String(event.index) : "-1";
      element.dataset.eventKind = event ? event.kind : "";
      element.dataset.eventLayer = event && event.layer != null ? String(event.layer) : "";
      element.dataset.eventPolarity = event && event.polarity ? event.polarity : "";
      element.dataset.bytesHeld = String(state.bytesHeld);
      element.dataset.updates = state.updates.map((update) => update.layer).join(",");
      const sentence = describeState(pane.trace, state, moment);
      pane.status.textContent = sentence;
      pane.canvas.setAttribute("aria-label", `${pane.title}. ${sentence}`);
      pane.fill.style.width = `${(100 * state.bytesHeld) / peakBytes}%`;
      pane.meter.setAttribute("aria-valuemax", String(peakBytes));
      pane.meter.setAttribute("aria-valuenow", String(state.bytesHeld));
      pane.meter.setAttribute("aria-valuetext", formatBytes(state.bytesHeld));
      pane.value.textContent = formatBytes(state.bytesHeld);
    }
    playButton.textContent = playing ? "Pause" : moment >= totalMoments ? "Replay" : "Play";
    playButton.setAttribute("aria-pressed", String(playing));
  }

  function goTo(next) {
    moment = Math.max(0, Math.min(totalMoments, next));
    sinceMoment = 0;
    publish();
    draw(reducedMotion ? 1 : 0);
  }

  function loop(time) {
    frame = 0;
    if (!playing || !visible) return;
    const elapsed = lastTime ? time - lastTime : 0;
    lastTime = time;
    sinceMoment += elapsed * speed;
    if (sinceMoment >= MOMENT_MS) {
      if (moment >= totalMoments) {
        setPlaying(false);
        return;
      }
      goTo(moment + 1);
    } else {
      draw(Math.min(1, sinceMoment / (MOMENT_MS * 0.6)));
    }
    frame = requestAnimationFrame(loop);
  }

  function setPlaying(next) {
    playing = next;
    lastTime = 0;
    if (playing && !frame && visible) frame = requestAnimationFrame(loop);
    if (!playing && frame) {
      cancelAnimationFrame(frame);
      frame = 0;
    }
    publish();
  }

  playButton.addEventListener("click", () => {
    if (!playing && moment >= totalMoments) goTo(0);
    setPlaying(!playing);
  });
  stepButton.addEventListener("click", () => {
    setPlaying(false);
    goTo(moment >= totalMoments ? 0 : moment + 1);
  });
  restartButton.addEventListener("click", () => {
    setPlaying(false);
    goTo(0);
  });
  function showSpeed() {
    speed = Number(speedInput.value) || 1;
    speedOutput.textContent = `${speed}×`;
    speedInput.setAttribute("aria-valuetext", `${speed} times`);
  }
  speedInput.addEventListener("input", showSpeed);
  showSpeed();  // the slider may have moved while the page loaded

  const resizeObserver = new ResizeObserver(() => {
    if (!panes[0].trace) return;
    resize();
    draw();
  });

  const ready = Promise.all(ALGORITHMS.map((algorithm) => requestJSON(`/api/trace?algorithm=${algorithm}`)))
    .then((traces) => {
      traces.forEach((trace, i) => { panes[i].trace = trace; });
      totalMoments = Math.max(...traces.map((trace) => trace.events.length));
      peakBytes = Math.max(1, ...traces.map((trace) => Math.max(...trace.events.map((event) => event.bytes_held))));
      resize();
      resizeObserver.observe(root);
      goTo(0);
      root.dataset.loaded = "true";
      // Autoplay once, unless the reader asked for less motion: then they step by hand. An embed
      // page decides with ?autoplay= (off unless asked for); the article plays by default.
      const autoplay = root.dataset.autoplay === undefined || root.dataset.autoplay === "true";
      if (autoplay && !reducedMotion) setPlaying(true);
    })
    .catch((error) => {
      for (const pane of panes) pane.status.textContent = `The recorded step could not be loaded: ${error.message}`;
      // Controls that could do nothing are switched off, so nobody presses them in vain.
      controls.forEach((control) => { control.disabled = true; });
      root.dataset.loaded = "error";
    });

  return {
    ready,
    pause() {
      visible = false;
      root.dataset.visible = "false";
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
    },
    resume() {
      visible = true;
      root.dataset.visible = "true";
      lastTime = 0;
      if (playing && !frame) frame = requestAnimationFrame(loop);
    },
  };
}
