// Words for the race: the text alternatives of the canvases, and the few milestones worth
// announcing to a screen-reader user (start, each net reaching the target, the end), never each step.
import { fixed, percent } from "../../lib/format.js";
import { LETTERS, className } from "./classes.js";

const NAMES = { ff: "Forward-Forward", backprop: "Backprop" };
// Totals closer than this fraction of the larger are a near tie: the label that wins by so little
// is not a confident answer, and the words must not make it sound like one.
export const NEAR_TIE = 0.02;
const MIN_DIGITS = 2;
const MAX_DIGITS = 6;

/**
 * How FF's totals compare: the decimals at which every two different totals print differently
 * (from 2 up to 6), whether they still print alike there (`equal`), and whether the top two are a
 * near tie (`relative`: their gap as a fraction of the larger).
 */
export function compareTotals(totals) {
  let digits = MIN_DIGITS;
  const distinct = (d) => totals.every((a, i) => totals.every((b, j) => j <= i || a === b
    || fixed(a, d) !== fixed(b, d)));
  while (digits < MAX_DIGITS && !distinct(digits)) digits += 1;
  const sorted = [...totals].sort((a, b) => b - a);
  const [top, second = top] = sorted;
  const gap = top - second;
  const relative = top > 0 ? gap / top : 0;
  return {
    digits,
    equal: fixed(top, digits) === fixed(second, digits),
    near: relative < NEAR_TIE,
    relative,
  };
}

/** The layers (0-based) FF's inference rule sums: the message's `layers_summed`, else all of them. */
export function summedLayers(inference) {
  const count = inference.ff.goodness[0]?.length ?? 0;
  const given = inference.ff.layers_summed;
  return Array.isArray(given) ? given : Array.from({ length: count }, (_, i) => i);
}

/** [1] -> "layer 2"; [0, 2] -> "layers 1 and 3". */
export function layersText(layers) {
  const names = layers.map((i) => String(i + 1));
  if (names.length === 1) return `layer ${names[0]}`;
  return `layers ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

export function metricsText(metrics) {
  if (!metrics) return "train — · held-out —";
  return `train ${percent(metrics.train_accuracy)} · held-out ${percent(metrics.test_accuracy)}`;
}

/** FF's held-out accuracy when each layer's goodness alone decides (empty when not sent). */
export function layerAccuracyText(metrics) {
  const layers = metrics?.layer_test_accuracy;
  if (!Array.isArray(layers) || layers.length === 0) return "";
  return `held-out, each layer alone: ${layers.map((a, i) => `layer ${i + 1} ${percent(a)}`).join(", ")}`;
}

export function canvasLabel(net, frame, settings, inference, classes = null) {
  const name = NAMES[net];
  if (!frame) return `${name}: press Train to start the race.`;
  const metrics = frame[net];
  const dataset = settings?.dataset ? ` on ${settings.dataset}` : "";
  let text = `${name}${dataset}, step ${frame.step} of ${frame.steps}: `
    + `${percent(metrics.test_accuracy)} held-out accuracy, ${percent(metrics.train_accuracy)} on training data. `
    + `Shading shows where the net says ${className(classes, 0)}, in blue, or ${className(classes, 1)}, in orange.`;
  if (inference) {
    const label = net === "ff" ? inference.ff.label : inference.backprop.label;
    const near = net === "ff" && compareTotals(inference.ff.totals).near ? ", by a near tie" : "";
    text += ` Marked point (${fixed(inference.x, 2)}, ${fixed(inference.y, 2)}) is classified `
      + `${className(classes, label)}${near}.`;
  }
  return text;
}

export function chartLabel(frame) {
  const lead = "Three panels: held-out accuracy of both nets; Forward-Forward's loss, the sum of its "
    + "layers' logistic losses, on its own axis; backprop's cross-entropy loss on another. The two "
    + "losses measure different things and are not compared.";
  if (!frame) return `${lead} No training yet.`;
  return `${lead} Up to step ${frame.step}: held-out accuracy Forward-Forward ${percent(frame.ff.test_accuracy)}, `
    + `backprop ${percent(frame.backprop.test_accuracy)}; Forward-Forward loss (sum of layer losses) `
    + `${fixed(frame.ff.loss, 3)}; backprop loss (cross-entropy) ${fixed(frame.backprop.loss, 3)}.`;
}

/** Spoken summary of an inference the reader asked for. */
export function inferenceSentence(inference, classes = null) {
  const { totals, label } = inference.ff;
  const comparison = compareTotals(totals);
  const printed = totals.map((t, i) => `${LETTERS[i]} ${fixed(t, comparison.digits)}`).join(" against ");
  let ff;
  if (comparison.equal) {
    ff = `Forward-Forward finds a tie, equal total goodness (${printed}), settled as ${className(classes, label)}`;
  } else if (comparison.near) {
    ff = `Forward-Forward says ${className(classes, label)}, but only by a near tie (total goodness ${printed})`;
  } else {
    ff = `Forward-Forward says ${className(classes, label)} (total goodness ${printed})`;
  }
  const probability = inference.backprop.probabilities[inference.backprop.label];
  return `Point (${fixed(inference.x, 2)}, ${fixed(inference.y, 2)}): ${ff}; backprop says `
    + `${className(classes, inference.backprop.label)} (${percent(probability)}).`;
}

/** Tracks which milestones of the current race were already announced. */
export class Milestones {
  /**
   * @param {(text: string) => void} announce
   * @param {number} target  the engine's "steps to target" accuracy on the training points
   *   (app/engine/race.py TARGET_ACCURACY, given to the page as the figure's data-target-accuracy)
   */
  constructor(announce, target) {
    this.announce = announce;
    this.target = target;
    /** @type {Record<string, boolean>} */
    this.reached = {};
    this.finished = false;
    this.reset();
  }

  reset() {
    this.reached = { ff: false, backprop: false };
    this.finished = false;
  }

  /** classes: the class names of the data set being raced on, when known. */
  started(settings, classes = null) {
    this.reset();
    const named = classes ? `: ${className(classes, 0)} against ${className(classes, 1)}` : "";
    this.announce(`Race started on ${settings?.dataset ?? "the data"}${named}.`);
  }

  frame(frame) {
    for (const net of ["ff", "backprop"]) {
      // The engine's definition (the scorecard's "steps to 95%"): accuracy on the training points.
      if (!this.reached[net] && frame[net].train_accuracy >= this.target) {
        this.reached[net] = true;
        this.announce(`${NAMES[net]} reached ${percent(this.target)} accuracy on its training points at step ${frame.step}.`);
      }
    }
    if (!this.finished && frame.step >= frame.steps) {
      this.finished = true;
      this.announce(`Race finished at step ${frame.step}: Forward-Forward ${percent(frame.ff.test_accuracy)}, `
        + `backprop ${percent(frame.backprop.test_accuracy)} held-out accuracy.`);
    }
  }
}
