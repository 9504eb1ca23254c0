// The goodness layer: one 8-unit FF layer trained by the engine. The server is stateless, so the
// widget keeps the reader's actions and sends the whole history each time (POST /api/goodness);
// the server replays them from the seed and returns the layer's state after every step.
import { cssVar, drawBarRow, fitCanvas } from "../lib/canvas.js";
import { fixed } from "../lib/format.js";
import { requestJSON } from "../lib/http.js";
import { serverNumber } from "../lib/server-values.js";
import { dot, square } from "../lib/shapes.js";

const SEED = 0;

export function mount(root) {
  const MAX_STEPS = serverNumber(root, "maxSteps");  // the engine's GOODNESS_MAX_STEPS, from the template
  const barsCanvas = root.querySelector(".goodness-bars");
  const historyCanvas = root.querySelector(".goodness-history");
  const thetaInput = root.querySelector('[data-control="theta"]');
  const thetaOutput = root.querySelector(".theta-value");
  const status = root.querySelector(".widget-status");
  const readout = (name) => root.querySelector(`.readout-${name}`);
  const palette = {
    ink: cssVar("--ink"), inkSoft: cssVar("--ink-soft"), grid: cssVar("--grid"),
    positive: cssVar("--positive"), negative: cssVar("--negative"), bar: cssVar("--class-a"),
    goodness: cssVar("--series-goodness"), pressure: cssVar("--series-pressure"),
  };

  let actions = [];        // [{polarity, steps}], merged when the same polarity repeats
  let history = [];        // the server's states: step 0, then one per step
  let theta = Number(thetaInput.value);
  let requestNumber = 0;
  let inFlight = null;

  const polarity = () => root.querySelector('input[name="goodness-polarity"]:checked').value;
  const totalSteps = () => actions.reduce((sum, action) => sum + action.steps, 0);

  async function replay() {
    const number = ++requestNumber;
    inFlight?.abort();
    inFlight = new AbortController();
    root.dataset.pending = "true";
    try {
      const reply = await requestJSON("/api/goodness", {
        body: { seed: SEED, theta, actions }, signal: inFlight.signal,
      });
      if (number !== requestNumber) return;  // a newer request has been sent since
      history = reply.history;
      root.dataset.theta = String(reply.theta);  // the threshold this history was trained against
      status.textContent = "";
      render();
    } catch (error) {
      if (error.name === "AbortError" || number !== requestNumber) return;
      status.textContent = `The layer could not be updated: ${error.message}`;
    } finally {
      if (number === requestNumber) root.dataset.pending = "false";
    }
  }

  function applySteps(count) {
    if (totalSteps() + count > MAX_STEPS) {
      status.textContent = `This demo stops at ${MAX_STEPS} steps; press Reset to start again.`;
      return;
    }
    const last = actions[actions.length - 1];
    if (last && last.polarity === polarity()) last.steps += count;
    else actions.push({ polarity: polarity(), steps: count });
    replay();
  }

  function render() {
    const state = history[history.length - 1];
    if (!state) return;
    const target = state.polarity === "negative" ? "negative" : "positive";
    readout("goodness").textContent = fixed(state.goodness);
    readout("probability").textContent = fixed(state.probability);
    readout("pressure").textContent = fixed(state.pressure);
    const verdict = readout("verdict");
    verdict.textContent = state.verdict === "real" ? "real (+)" : "fake (−)";
    verdict.dataset.verdict = state.verdict;
    readout("step").textContent = String(state.step);
    Object.assign(root.dataset, {
      step: String(state.step), goodness: String(state.goodness), probability: String(state.probability),
      pressure: String(state.pressure), verdict: state.verdict, target,
    });
    const activities = state.activities.map((value) => fixed(value, 2)).join(", ");
    barsCanvas.setAttribute("aria-label",
      `The 8 unit activities after ${state.step} steps: ${activities}. Goodness ${fixed(state.goodness)} `
      + `against threshold ${theta}; the layer says ${state.verdict}.`);
    const first = history[0];
    historyCanvas.setAttribute("aria-label", history.length < 2
      ? "History of goodness and update pressure: no steps yet."
      : `Over ${state.step} steps, goodness went from ${fixed(first.goodness)} to ${fixed(state.goodness)} `
        + `and the update pressure from ${fixed(first.pressure)} to ${fixed(state.pressure)}.`);
    drawBars(state);
    drawHistory();
  }

  function drawBars(state) {
    const { context, width, height } = fitCanvas(barsCanvas);
    context.clearRect(0, 0, width, height);
    const top = 18;
    const bottom = height - 22;
    const gaugeWidth = Math.max(56, width * 0.16);
    const barArea = width - gaugeWidth - 24;
    const scale = Math.max(1, ...state.activities) * 1.1;
    context.font = "12px system-ui, sans-serif";
    context.textAlign = "center";
    context.fillStyle = palette.inkSoft;
    context.fillText("unit activities y", barArea / 2, 10);
    drawBarRow(context, state.activities, {
      ...palette,
      width: barArea,
      top,
      bottom,
      scale,
      fraction: 0.7,
      labelY: height - 8,
      label: (j) => `y${j + 1}`,
    });

    // The gauge: goodness against the threshold, on a scale that always shows both.
    const left = width - gaugeWidth;
    const gaugeMax = Math.max(theta * 2, state.goodness * 1.1);
    const toY = (value) => bottom - ((bottom - top) * value) / gaugeMax;
    const gaugeColor = state.verdict === "real" ? palette.positive : palette.negative;
    context.fillStyle = gaugeColor;
    context.fillRect(left + gaugeWidth * 0.3, toY(state.goodness), gaugeWidth * 0.4, bottom - toY(state.goodness));
    context.strokeStyle = palette.ink;
    context.strokeRect(left + gaugeWidth * 0.3, top, gaugeWidth * 0.4, bottom - top);
    context.setLineDash([4, 3]);
    context.lineWidth = 2;
    context.beginPath();
    context.moveTo(left + gaugeWidth * 0.15, toY(theta));
    context.lineTo(left + gaugeWidth * 0.85, toY(theta));
    context.stroke();
    context.setLineDash([]);
    context.lineWidth = 1;
    context.fillStyle = palette.ink;
    context.fillText("G", left + gaugeWidth / 2, 10);
    context.fillText("θ", left + gaugeWidth * 0.08, toY(theta));
  }

  function drawHistory() {
    const { context, width, height } = fitCanvas(historyCanvas);
    context.clearRect(0, 0, width, height);
    const margin = { left: 34, right: 58, top: 12, bottom: 20 };
    const plotWidth = width - margin.left - margin.right;
    const plotHeight = height - margin.top - margin.bottom;
    const steps = Math.max(10, history.length - 1);
    const goodnessMax = Math.max(theta * 1.5, ...history.map((state) => state.goodness)) * 1.05;
    const x = (step) => margin.left + (plotWidth * step) / steps;
    const yGoodness = (value) => margin.top + plotHeight * (1 - value / goodnessMax);
    const yPressure = (value) => margin.top + plotHeight * (1 - value);

    context.font = "11px system-ui, sans-serif";
    context.strokeStyle = palette.grid;
    context.strokeRect(margin.left, margin.top, plotWidth, plotHeight);
    context.fillStyle = palette.goodness;
    context.textAlign = "right";
    context.fillText("G", margin.left - 6, margin.top + 6);
    context.fillText(fixed(goodnessMax, 1), margin.left - 6, margin.top + 18);
    context.fillStyle = palette.pressure;
    context.textAlign = "left";
    context.fillText("pressure", width - margin.right + 4, margin.top + 6);
    context.fillText("1", width - margin.right + 4, margin.top + 18);
    context.fillText("0", width - margin.right + 4, margin.top + plotHeight);
    context.fillStyle = palette.inkSoft;
    context.textAlign = "center";
    context.fillText(`step ${history.length - 1}`, x(history.length - 1), height - 5);

    // theta on the goodness axis: the level the layer is trying to cross.
    context.strokeStyle = palette.inkSoft;
    context.setLineDash([2, 3]);
    context.beginPath();
    context.moveTo(margin.left, yGoodness(theta));
    context.lineTo(margin.left + plotWidth, yGoodness(theta));
    context.stroke();
    context.setLineDash([]);

    drawSeries(context, history.map((state) => [x(state.step), yGoodness(state.goodness)]), palette.goodness, false, dot);
    drawSeries(context, history.map((state) => [x(state.step), yPressure(state.pressure)]), palette.pressure, true, square);
  }

  function drawSeries(context, points, color, dashed, marker) {
    context.strokeStyle = color;
    context.lineWidth = 2;
    context.setLineDash(dashed ? [6, 4] : []);
    context.beginPath();
    points.forEach(([px, py], i) => (i ? context.lineTo(px, py) : context.moveTo(px, py)));
    context.stroke();
    context.setLineDash([]);
    const every = Math.max(1, Math.ceil(points.length / 25));  // keep markers legible over long runs
    points.forEach(([px, py], i) => {
      if (i % every === 0 || i === points.length - 1) marker(context, px, py, 3, color, null);
    });
  }

  function showTheta() {
    thetaOutput.textContent = fixed(theta, 1);
    thetaInput.setAttribute("aria-valuetext", `theta ${fixed(theta, 1)}`);
  }

  root.querySelector('[data-action="step-1"]').addEventListener("click", () => applySteps(1));
  root.querySelector('[data-action="step-10"]').addEventListener("click", () => applySteps(10));
  root.querySelector('[data-action="reset"]').addEventListener("click", () => {
    actions = [];
    replay();
  });
  // Changing theta replays the same actions against the new threshold.
  thetaInput.addEventListener("input", () => {
    theta = Number(thetaInput.value);
    showTheta();
    replay();
  });
  const resizeObserver = new ResizeObserver(() => render());
  resizeObserver.observe(root);

  showTheta();
  replay();
  return { settings: () => ({ theta }) };
}
