// Each Forward-Forward layer's goodness over the plane: one small map per layer and label (the
// frame's `layers`), all on one colour scale, with each layer's own held-out accuracy beside its row.
import { cssVar } from "../../lib/canvas.js";
import { fixed, percent } from "../../lib/format.js";
import { LETTERS, labelName } from "./classes.js";
import { decodeGrid, toRgb } from "./field.js";
import { makeElement } from "./readout.js";

/** 256 RGB triples: paper for no goodness, FF's colour a little past the middle, and FF's colour
 *  darkened towards ink at the top. One sequential scale, light where little happens, so the maps
 *  stay quiet; it stops short of ink so a saturated map is a deep green, not a black square. */
function colourScale(container) {
  const [low, mid, ink] = ["--race-goodness-low", "--race-goodness-mid", "--race-goodness-high"]
    .map((name) => toRgb(cssVar(name, container)));
  const high = mid.map((c, i) => c * 0.55 + ink[i] * 0.45);
  /** @type {[number, number[]][]} */
  const stops = [[0, low], [0.55, mid], [1, high]];
  const table = new Uint8ClampedArray(256 * 3);
  for (let v = 0; v < 256; v += 1) {
    const t = v / 255;
    const k = t <= stops[1][0] ? 0 : 1;
    const [t0, from] = stops[k];
    const [t1, to] = stops[k + 1];
    const f = (t - t0) / (t1 - t0);
    for (let c = 0; c < 3; c += 1) table[3 * v + c] = from[c] * (1 - f) + to[c] * f;
  }
  return table;
}

export class LayerMaps {
  /** container: the .race-layers element of race.html (title, scale legend, table). */
  constructor(container) {
    const ref = (name) => container.querySelector(`[data-ref="${name}"]`);
    this.container = container;
    this.table = ref("layers-table");
    this.scaleBox = ref("layers-scale");
    this.scaleMax = ref("layers-max");
    this.thetaTick = ref("layers-theta");
    this.ramp = ref("layers-ramp");
    this.colours = colourScale(container);
    this.classes = null;
    this.theta = null;
    this.frame = null;
    this.summed = null;          // the layers FF's inference rule sums, once an inference said so
    this.shape = "";             // "layers x labels" the table was built for
    this.cells = [];             // [layer][label] -> {canvas}
    this.rows = [];              // [layer] -> {accuracy: span, note: span}
    this.heads = [];             // [label] -> the class name span of each column
    this.offscreen = document.createElement("canvas");
    this.paintRamp();
  }

  setRace({ classes, theta }) {
    this.classes = classes;
    this.theta = theta;
    this.frame = null;
    this.summed = null;
    for (const [label, span] of this.heads.entries()) span.textContent = this.classNameOf(label);
  }

  setFrame(frame) {
    // A server without per-layer maps sends none: the section stays hidden rather than empty.
    this.frame = frame.layers ? frame : null;
    this.container.hidden = !this.frame;
  }

  /** The layers FF's inference sums (the inference message's `layers_summed`). */
  setSummed(layers) {
    this.summed = Array.isArray(layers) ? layers : null;
  }

  classNameOf(label) {
    const name = this.classes?.[label];
    return name ? `(${name})` : "";
  }

  buildTable(layerCount, labelCount) {
    this.shape = `${layerCount}x${labelCount}`;
    const head = makeElement("tr");
    head.append(makeElement("td"));   // the corner above the row names
    this.heads = [];
    for (let label = 0; label < labelCount; label += 1) {
      const th = makeElement("th", "race-layers-col", `label ${LETTERS[label] ?? label}`);
      th.scope = "col";
      const name = makeElement("span", "race-layers-class", this.classNameOf(label));
      th.append(" ", name);
      this.heads.push(name);
      head.append(th);
    }
    const thead = makeElement("thead");
    thead.append(head);
    const body = makeElement("tbody");
    this.cells = [];
    this.rows = [];
    for (let layer = 0; layer < layerCount; layer += 1) {
      const row = makeElement("tr");
      const th = makeElement("th", "race-layers-row");
      th.scope = "row";
      const accuracy = makeElement("span", "race-layers-accuracy", "held-out —");
      const note = makeElement("span", "race-layers-note", "");
      th.append(makeElement("span", "race-layers-name", `layer ${layer + 1}`), accuracy, note);
      row.append(th);
      this.rows.push({ accuracy, note });
      const cells = [];
      for (let label = 0; label < labelCount; label += 1) {
        const td = makeElement("td", "race-layers-cell");
        const canvas = makeElement("canvas", "race-layer-map");
        canvas.setAttribute("role", "img");
        canvas.dataset.layer = String(layer);
        canvas.dataset.label = String(label);
        td.append(canvas);
        row.append(td);
        cells.push({ canvas });
      }
      this.cells.push(cells);
      body.append(row);
    }
    this.table.replaceChildren(thead, body);
  }

  /** Paint the newest frame's maps (called at most once per animation frame). */
  draw() {
    const frame = this.frame;
    if (!frame) return;
    const { size, scale, goodness } = frame.layers;
    const layerCount = goodness.length;
    const labelCount = goodness[0]?.length ?? 0;
    if (this.shape !== `${layerCount}x${labelCount}`) this.buildTable(layerCount, labelCount);
    const accuracies = frame.ff.layer_test_accuracy ?? [];

    // The server's scale is shared by every map (and may be fixed for the race, with larger
    // goodness saturating at the darkest tone): the top of the legend is "this much or more".
    this.scaleMax.textContent = `≥ ${fixed(scale, 2)}`;
    const theta = this.theta;
    const thetaAt = Number.isFinite(theta) && scale > 0 ? Math.min(1, theta / scale) : null;
    this.thetaTick.hidden = thetaAt === null;
    if (thetaAt !== null) {
      this.thetaTick.style.left = `${thetaAt * 100}%`;
      this.thetaTick.dataset.off = String(theta > scale);
      this.thetaTick.textContent = theta > scale ? `θ ${fixed(theta, 2)} ▸` : `θ ${fixed(theta, 2)}`;
    }
    this.scaleBox.setAttribute("aria-label", "Colour scale shared by all the layer maps: white is goodness 0, "
      + `the darkest tone goodness ${fixed(scale, 2)} or more`
      + (thetaAt === null ? "." : `; the threshold θ = ${fixed(theta, 2)} is marked`
        + (theta > scale ? ", beyond the largest value." : ".")));

    for (let layer = 0; layer < layerCount; layer += 1) {
      const accuracy = accuracies[layer];
      const counted = !this.summed || this.summed.includes(layer);
      this.rows[layer].accuracy.textContent = Number.isFinite(accuracy) ? `held-out ${percent(accuracy)}` : "held-out —";
      this.rows[layer].note.textContent = counted ? "" : "not in the sum";
      for (let label = 0; label < labelCount; label += 1) {
        const values = decodeGrid(goodness[layer][label]);
        const cell = this.cells[layer][label];
        this.paintMap(cell, size, values);
        cell.canvas.setAttribute("aria-label", this.mapDescription(frame, layer, label, values, accuracy, counted));
      }
    }
  }

  paintMap(cell, size, values) {
    const { canvas } = cell;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    // Resizing a canvas clears it, so only when its box really changed.
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    this.offscreen.width = size;
    this.offscreen.height = size;
    const small = /** @type {CanvasRenderingContext2D} */ (this.offscreen.getContext("2d"));
    const image = small.createImageData(size, size);
    for (let i = 0; i < size * size; i += 1) {
      const v = values[i] ?? 0;
      image.data[4 * i] = this.colours[3 * v];
      image.data[4 * i + 1] = this.colours[3 * v + 1];
      image.data[4 * i + 2] = this.colours[3 * v + 2];
      image.data[4 * i + 3] = 255;
    }
    small.putImageData(image, 0, 0);
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = true;
    context.drawImage(this.offscreen, 0, 0, width, height);
  }

  mapDescription(frame, layer, label, values, accuracy, counted) {
    const { scale } = frame.layers;
    let lo = 255;
    let hi = 0;
    let above = 0;
    const thetaByte = Number.isFinite(this.theta) && scale > 0 ? (this.theta / scale) * 255 : Infinity;
    for (const v of values) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      if (v > thetaByte) above += 1;
    }
    const toGoodness = (v) => (v >= 255 ? `${fixed(scale, 2)} or more` : fixed((v / 255) * scale, 2));
    const share = values.length ? above / values.length : 0;
    return `Layer ${layer + 1} with ${labelName(this.classes, label)} in the input, step ${frame.step}: `
      + `goodness from ${toGoodness(lo)} to ${toGoodness(hi)} over the plane, above θ on ${percent(share)} of it. `
      + (Number.isFinite(accuracy)
        ? `Layer ${layer + 1} alone classifies ${percent(accuracy)} of the held-out points correctly.`
        : "")
      + (counted ? "" : " This layer is left out of the sum that decides.");
  }

  /** The legend's colour ramp, painted with the maps' own colours so the two can never disagree. */
  paintRamp() {
    const steps = 64;
    this.ramp.width = steps;
    this.ramp.height = 1;
    const context = this.ramp.getContext("2d");
    const image = context.createImageData(steps, 1);
    for (let i = 0; i < steps; i += 1) {
      const v = Math.round((i / (steps - 1)) * 255);
      for (let c = 0; c < 3; c += 1) image.data[4 * i + c] = this.colours[3 * v + c];
      image.data[4 * i + 3] = 255;
    }
    context.putImageData(image, 0, 0);
  }
}
