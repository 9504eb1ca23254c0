// The live race widget: wires the session (protocol) to the views (fields, curves, readouts,
// words) and draws at most once per animation frame, and only when something new arrived.
import { CurvesChart } from "./race/chart.js";
import { className, classNamesByDataset } from "./race/classes.js";
import { Controls } from "./race/controls.js";
import {
  Milestones, canvasLabel, chartLabel, inferenceSentence, layerAccuracyText, metricsText,
} from "./race/describe.js";
import { FieldView, palette } from "./race/field.js";
import { LayerMaps } from "./race/layers.js";
import { attachPointer } from "./race/pointer.js";
import { renderBackprop, renderForwardForward, renderPrompt } from "./race/readout.js";
import { scrollToShow } from "./race/reveal.js";
import { RaceSession } from "./race/session.js";
import { serverJSON, serverNumber } from "../lib/server-values.js";


const CONNECTION_TEXT = {
  connecting: "Connecting to the training server…",
  open: "",
  reconnected: "Reconnected.",
};

export function mount(root) {
  const ref = (name) => root.querySelector(`[data-ref="${name}"]`);
  const ffCanvas = ref("ff-canvas");
  const bpCanvas = ref("bp-canvas");
  const chartCanvas = ref("chart");
  const fields = { ff: new FieldView(ffCanvas), backprop: new FieldView(bpCanvas) };
  // The race's length until the server's `race` message says it: the figure's data-steps.
  const chart = new CurvesChart(chartCanvas, palette(), serverNumber(root, "steps"));
  const layers = new LayerMaps(ref("layers"));
  const text = {
    step: ref("step"), ffMetrics: ref("ff-metrics"), bpMetrics: ref("bp-metrics"),
    status: ref("status"), milestones: ref("milestones"), formError: ref("form-error"),
  };
  const readouts = { ff: ref("ff-readout"), backprop: ref("bp-readout") };
  const legend = { a: ref("legend-a"), b: ref("legend-b"), shade: ref("legend-shade") };
  // Every data set's class names as the server rendered them, to name a race before it arrives.
  const classNamesOf = classNamesByDataset(root);
  // From the server (app/templates/widgets/race.html), never a copy and never a fallback: what a
  // link or an embed carries (the settings that decide the run; speed is only its pace) and the
  // milestone's target. A figure without them throws here, and main.js shows the widget failed.
  /** @type {string[]} */
  const LINKED_SETTINGS = serverJSON(root, "linkedSettings");
  const milestones = new Milestones(announce, serverNumber(root, "targetAccuracy"));

  let settingsInfo = null;   // the `race` message's settings
  let classes = null;        // the names of its classes, index = label (the `race` message's `classes`)
  let frame = null;          // the newest frame, drawn at the next animation frame
  let inference = null;
  let visible = true;
  let drawRequested = false;
  let connected = false;
  let lastCloseWasBusy = false;
  let session = null;        // created last: its socket reports status straight away
  // Ready once the server has shown the first race: until then main.js holds the reader's presses
  // (and the buttons stay pressable, not greyed, because those presses will be carried out).
  let becameReady;
  const ready = new Promise((resolve) => { becameReady = resolve; });
  let everReady = false;

  function announce(sentence) {
    // Re-setting identical text is not re-announced by screen readers; a trailing space is.
    text.milestones.textContent = text.milestones.textContent === sentence ? `${sentence} ` : sentence;
  }

  function requestDraw() {
    if (drawRequested || !visible) return;
    drawRequested = true;
    requestAnimationFrame(draw);
  }

  function draw() {
    drawRequested = false;
    fields.ff.draw();
    fields.backprop.draw();
    chart.draw();
    layers.draw();
    // The canvases' text alternatives change with what they show, once per drawn frame.
    ffCanvas.setAttribute("aria-label", canvasLabel("ff", frame, settingsInfo, inference, classes));
    bpCanvas.setAttribute("aria-label", canvasLabel("backprop", frame, settingsInfo, inference, classes));
    chartCanvas.setAttribute("aria-label", chartLabel(frame));
    // Where the plot sits, in CSS pixels, so tests (and curious readers) can aim at a data point.
    const { left, top, side } = fields.ff.plotBox();
    ffCanvas.dataset.plot = [left, top, side].map((v) => v.toFixed(1)).join(",");
  }

  // autoplay=1 on an embed page: train as soon as the first race is ready. "asked" until the race
  // is seen running, so a press that got lost (a reconnect, a viewport pause) is made again.
  let autoplay = root.dataset.autoplay === "true" ? "waiting" : "off";

  const view = {
    race(info) {
      settingsInfo = info.settings;
      classes = Array.isArray(info.classes) ? info.classes : classNamesOf[info.settings.dataset] ?? null;
      showClassNames();
      layers.setRace({ classes, theta: info.settings.theta });
      // The article keeps its URL in step with the run shown (share.js listens), so a link reproduces it.
      root.dispatchEvent(new CustomEvent("ff-widget:settings", { detail: currentSettings() }));
      controls.write(info.settings);
      controls.setApplied(info.settings);
      for (const view of Object.values(fields)) view.setRace({ extent: info.extent, points: info.train });
      ffCanvas.dataset.extent = info.extent.join(",");
      chart.reset(info.settings.steps);
      frame = null;
      inference = null;
      text.step.textContent = `step 0 / ${info.settings.steps}`;
      showMetrics(text.ffMetrics, null);
      showMetrics(text.bpMetrics, null);
      renderPrompt(readouts.ff, "No point chosen yet: its goodness for each label will show here.");
      readouts.backprop.replaceChildren();
      // No draw here: the server sends the race's first frame right behind this message, and that
      // frame draws the new race; a draw now would show the data without its shading (and label
      // the canvases "press Train") while that frame is being decoded.
    },
    frame(next) {
      frame = next;
      fields.ff.setGrid(next.grid.size, next.grid.ff);
      fields.backprop.setGrid(next.grid.size, next.grid.backprop);
      layers.setFrame(next);
      chart.addFrame(next);
      milestones.frame(next);
      text.step.textContent = `step ${next.step} / ${next.steps}`;
      showMetrics(text.ffMetrics, next.ff);
      showMetrics(text.bpMetrics, next.backprop);
      root.dataset.step = String(next.step);
      requestDraw();
    },
    state(phase) {
      controls.setState(phase, { online: connected || !everReady });
      // `start` answers "running" before the `reset` that follows it answers "paused": ready is
      // that pause, the untrained race on show, as for autoplay below.
      if (!everReady && connected && phase === "paused") {
        everReady = true;
        becameReady();
      }
      // A pause before any training is the reset that shows the untrained nets: ready to go.
      if (autoplay === "asked" && phase !== "paused") autoplay = "off";
      else if (autoplay !== "off" && phase === "paused") {
        autoplay = "asked";
        controls.fire("train");
      }
    },
    started(settings, fromStep) {
      if (fromStep === 0) milestones.started(settings, classesOf(settings.dataset));
      else announce(`Race resumed at step ${fromStep}.`);
    },
    inference(result, { auto }) {
      inference = result;
      fields.ff.marker = { x: result.x, y: result.y, label: result.ff.label };
      fields.backprop.marker = { x: result.x, y: result.y, label: result.backprop.label };
      layers.setSummed(result.ff.layers_summed);
      renderForwardForward(readouts.ff, result, classes);
      renderBackprop(readouts.backprop, result, classes);
      if (!auto) announce(inferenceSentence(result, classes));
      requestDraw();
    },
    error(error) {
      if (error.code === "bad_settings" || error.code === "bad_message") {
        text.formError.textContent = error.message;
        text.formError.hidden = false;
      } else {
        text.status.textContent = error.message;
      }
    },
    connection(status) {
      connected = status.state === "open" || status.state === "reconnected";
      root.dataset.connection = status.state;
      if (status.state === "reconnecting" && status.restart && !status.delay) {
        // 1012: the server is restarting on purpose and another one takes over at once; the
        // restore that follows says "Reconnected". Not an error, so no alarm in the meantime.
        text.status.textContent = "The server is restarting; reconnecting…";
      } else if (status.state === "reconnecting") {
        // 1013 is the server saying it is full, not a network fault: say so, and keep trying.
        if (status.code === 1013) lastCloseWasBusy = true;
        else if (status.code !== undefined) lastCloseWasBusy = false;
        const lead = lastCloseWasBusy ? "The server is busy right now" : "Connection lost";
        const wait = status.delay ? `, next try in ${(status.delay / 1000).toFixed(1)} s` : "";
        text.status.textContent = `${lead}, reconnecting… (attempt ${status.attempt}${wait})`;
      } else if (status.state === "closed") {
        text.status.textContent = "The connection was closed after a long pause. "
          + "Press any button or click the picture to reconnect and restore your race.";
      } else if (status.state in CONNECTION_TEXT) {
        text.status.textContent = CONNECTION_TEXT[status.state];
      }
      // After an idle close the buttons stay live: pressing one is how the reader reconnects.
      controls.setState(session ? session.shown : "idle",
        { online: connected || status.state === "closed" || !everReady });
    },
    restored(step) {
      text.status.textContent = `Reconnected: your race is back at step ${step}.`;
    },
  };

  const controls = new Controls(root, {
    train: (settings) => session.train(settings, controls.changed()),
    pause: () => session.pause(),
    step: (settings) => session.step(settings, controls.changed()),
    reset: (settings) => session.reset(settings, controls.changed()),
    speed: (stepsPerFrame) => session.setSpeed(stepsPerFrame),
  }, {
    // The reader pressed Train: bring the step counter and both pictures into view to watch.
    onPress: (action) => action === "train" && scrollToShow(ref("toolbar"), [text.step, ffCanvas, bpCanvas]),
  });
  session = new RaceSession(view, {
    initialSettings: controls.read() ?? {},
  });

  const choose = (x, y) => {
    if (!session.infer(x, y)) return;
    // Show where the reader pointed straight away; the readout follows when the server answers.
    fields.ff.marker = { x, y };
    fields.backprop.marker = { x, y };
    requestDraw();
  };
  attachPointer(ffCanvas, fields.ff, { choose, redraw: requestDraw, keyboard: true });
  attachPointer(bpCanvas, fields.backprop, { choose, redraw: requestDraw });

  /** A net's accuracies; FF's line also gives each layer's own, on a quieter line of its own. */
  function showMetrics(node, metrics) {
    // Each "name value" stays on one line, so a narrow column breaks the line only between them.
    node.replaceChildren(...metricsText(metrics).split(" · ").flatMap((part, i) => {
      const span = document.createElement("span");
      span.className = "race-metric";
      span.textContent = part;
      return i ? [" · ", span] : [span];
    }));
    const layerText = layerAccuracyText(metrics);
    if (!layerText) return;
    const span = document.createElement("span");
    span.className = "race-metrics-layers";
    span.textContent = ` ${layerText}`;
    node.append(span);
  }

  /** The class names of `dataset`: the race on screen's own, else those the server rendered. */
  function classesOf(dataset) {
    if (settingsInfo && dataset === settingsInfo.dataset && classes) return classes;
    return classNamesOf[dataset] ?? null;
  }

  /** The legend names the classes of the data on screen (the server rendered the first ones). */
  function showClassNames() {
    legend.a.textContent = className(classes, 0);
    legend.b.textContent = className(classes, 1);
    legend.shade.textContent = `shading: the net's P(class A${classes ? `: ${classes[0]}` : ""})`;
  }

  const resizeObserver = new ResizeObserver(() => {
    fields.ff.resize();
    fields.backprop.resize();
    chart.resize();
    if (visible) draw(); // synchronously: a resized canvas is blank until redrawn
  });
  // The layer maps' canvases come and go with the number of layers: their table is watched instead.
  for (const box of [ffCanvas, bpCanvas, chartCanvas, ref("layers-table")]) resizeObserver.observe(box);

  /** The settings of the run on screen (or, before the first one, the form's), for links and embeds. */
  function currentSettings() {
    const source = settingsInfo ?? controls.read() ?? {};
    return Object.fromEntries(LINKED_SETTINGS.filter((name) => name in source).map((name) => [name, source[name]]));
  }

  // Hooks for the browser tests and for trying the recovery path from the console.
  // choose(x, y) asks about a point in data coordinates, finer than any click can aim.
  // What the page draws from the newest frame: its step, both decision grids' bytes and the layer
  // maps (tests compare them with the server's frame for that step).
  const shown = () => frame && {
    step: frame.step,
    grid: { ff: Array.from(fields.ff.grid?.values ?? []), backprop: Array.from(fields.backprop.grid?.values ?? []) },
    layers: layers.frame?.layers ?? null,
  };
  root.raceDebug = { dropConnection: () => session.dropConnection(), choose, shown };

  return {
    ready,
    settings: currentSettings,
    pause() {
      visible = false;
      session.leaveViewport();
    },
    resume() {
      visible = true;
      session.enterViewport();
      requestDraw();
    },
  };
}
