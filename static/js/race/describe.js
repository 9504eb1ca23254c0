// Words for the race: the text alternatives of the canvases, and the few milestones worth
// announcing to a screen-reader user (start, each net reaching the target, the end), never each step.
import { fixed, percent } from "../lib/format.js";

const TARGET_ACCURACY = 0.95;  // app/engine/race.py's TARGET_ACCURACY
const NAMES = { ff: "Forward-Forward", backprop: "Backprop" };

export function metricsText(metrics) {
  if (!metrics) return "train — · held-out —";
  return `train ${percent(metrics.train_accuracy)} · held-out ${percent(metrics.test_accuracy)}`;
}

export function canvasLabel(net, frame, settings, inference) {
  const name = NAMES[net];
  if (!frame) return `${name}: press Train to start the race.`;
  const metrics = frame[net];
  const dataset = settings?.dataset ? ` on ${settings.dataset}` : "";
  let text = `${name}${dataset}, step ${frame.step} of ${frame.steps}: `
    + `${percent(metrics.test_accuracy)} held-out accuracy, ${percent(metrics.train_accuracy)} on training data. `
    + "Shading shows where the net says class A (blue) or class B (orange).";
  if (inference) {
    const label = net === "ff" ? inference.ff.label : inference.backprop.label;
    text += ` Marked point (${fixed(inference.x, 2)}, ${fixed(inference.y, 2)}) is classified class ${"AB"[label]}.`;
  }
  return text;
}

export function chartLabel(frame) {
  if (!frame) return "Held-out accuracy and loss curves: no training yet.";
  return `Curves up to step ${frame.step}: held-out accuracy Forward-Forward ${percent(frame.ff.test_accuracy)}, `
    + `backprop ${percent(frame.backprop.test_accuracy)}; loss Forward-Forward ${fixed(frame.ff.loss, 3)}, `
    + `backprop ${fixed(frame.backprop.loss, 3)}.`;
}

/** Spoken summary of an inference the reader asked for. */
export function inferenceSentence(inference) {
  const [a, b] = inference.ff.totals;
  const probability = inference.backprop.probabilities[inference.backprop.label];
  return `Point (${fixed(inference.x, 2)}, ${fixed(inference.y, 2)}): Forward-Forward says class `
    + `${"AB"[inference.ff.label]} (total goodness A ${fixed(a, 2)}, B ${fixed(b, 2)}); backprop says class `
    + `${"AB"[inference.backprop.label]} (${percent(probability)}).`;
}

/** Tracks which milestones of the current race were already announced. */
export class Milestones {
  constructor(announce) {
    this.announce = announce;
    this.reset();
  }

  reset() {
    this.reached = { ff: false, backprop: false };
    this.finished = false;
  }

  started(settings) {
    this.reset();
    this.announce(`Race started on ${settings?.dataset ?? "the data"}.`);
  }

  frame(frame) {
    for (const net of ["ff", "backprop"]) {
      if (!this.reached[net] && frame[net].test_accuracy >= TARGET_ACCURACY) {
        this.reached[net] = true;
        this.announce(`${NAMES[net]} reached ${percent(TARGET_ACCURACY)} held-out accuracy at step ${frame.step}.`);
      }
    }
    if (!this.finished && frame.step >= frame.steps) {
      this.finished = true;
      this.announce(`Race finished at step ${frame.step}: Forward-Forward ${percent(frame.ff.test_accuracy)}, `
        + `backprop ${percent(frame.backprop.test_accuracy)} held-out accuracy.`);
    }
  }
}
