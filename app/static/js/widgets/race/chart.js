// The race's history as three small line charts: held-out accuracy (both nets on one axis, since
// both are the same measure), then each net's own training loss on its own axis. FF's loss (the sum
// of its layers' logistic losses) and backprop's cross-entropy are different quantities, so they are
// never drawn against one scale. Forward-Forward is solid and backprop dashed, so the lines differ by
// more than colour.
import { fitCanvas } from "../../lib/canvas.js";

const FONT = "12px system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif";
const NETS = {
  ff: { colour: "ff", dash: [] },
  backprop: { colour: "backprop", dash: [6, 4] },
};

export class CurvesChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {object} colors
   * @param {number} steps  the race's length, the server's (the figure's data-steps) until a race says
   */
  constructor(canvas, colors, steps) {
    this.canvas = canvas;
    this.colors = colors;
    this.history = [];   // [{step, ff: {...metrics}, backprop: {...metrics}}] in step order
    this.steps = steps;
    this.resize();
  }

  resize() {
    const { context, width, height } = fitCanvas(this.canvas);
    this.context = context;
    this.width = width;
    this.height = height;
  }

  reset(steps) {
    this.history = [];
    this.steps = steps;
  }

  addFrame(frame) {
    const last = this.history[this.history.length - 1];
    // A frame for an earlier step means the race was rewound (reset): the old curve is void.
    if (last && frame.step < last.step) this.history = [];
    if (last && frame.step === last.step) this.history.pop();
    this.history.push({ step: frame.step, ff: frame.ff, backprop: frame.backprop });
    this.steps = frame.steps || this.steps;
  }

  draw() {
    const ctx = this.context;
    ctx.clearRect(0, 0, this.width, this.height);
    // Three side by side when there is room, stacked on a phone (the CSS makes the box tall there).
    const stacked = this.height > this.width * 0.45;
    const gap = 16;
    const count = 3;
    const panelW = stacked ? this.width : (this.width - gap * (count - 1)) / count;
    const panelH = stacked ? (this.height - gap * (count - 1)) / count : this.height;
    const box = (i) => (stacked ? { x: 0, y: i * (panelH + gap) } : { x: i * (panelW + gap), y: 0 });
    // Chance is 50% on these two-class sets; only widen the axis if a net starts below it.
    const minAccuracy = Math.min(0.5, ...this.history.flatMap((h) => [h.ff.test_accuracy, h.backprop.test_accuracy]));
    this.drawPanel({ ...box(0), w: panelW, h: panelH }, "held-out accuracy", "test_accuracy", ["ff", "backprop"],
      Math.floor(minAccuracy * 10) / 10, 1, (v) => `${Math.round(v * 100)}%`);
    /** @type {["ff" | "backprop", string[]][]} */
    const lossPanels = [
      ["ff", ["Forward-Forward loss (sum of layer losses)", "FF loss (sum of layer losses)", "FF loss (layer sum)"]],
      ["backprop", ["backprop loss (cross-entropy)", "backprop loss (cross-ent.)"]],
    ];
    lossPanels.forEach(([net, title], i) => {
      const top = niceCeiling(Math.max(1e-6, ...this.history.map((h) => h[net].loss)));
      this.drawPanel({ ...box(i + 1), w: panelW, h: panelH }, title, "loss", [net], 0, top, formatLoss);
    });
  }

  drawPanel(box, title, key, nets, lo, hi, format) {
    const ctx = this.context;
    const { colors } = this;
    const left = box.x + 40;
    const right = box.x + box.w - 8;
    const top = box.y + 20;
    const bottom = box.y + box.h - 20;
    ctx.font = FONT;
    ctx.fillStyle = colors.ink;
    ctx.textBaseline = "alphabetic";
    ctx.textAlign = "left";
    // The longest wording that fits the panel (titles are a list, longest first).
    const titles = Array.isArray(title) ? title : [title];
    const room = box.x + box.w - left;
    ctx.fillText(titles.find((t) => ctx.measureText(t).width <= room) ?? titles[titles.length - 1], left, box.y + 13);

    ctx.strokeStyle = colors.rule;
    ctx.lineWidth = 1;
    ctx.fillStyle = colors.inkSoft;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const fraction of [0, 0.5, 1]) {
      const value = lo + fraction * (hi - lo);
      const y = Math.round(bottom - fraction * (bottom - top)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(right, y);
      ctx.stroke();
      ctx.fillText(format(value), left - 4, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillText("0", left, bottom + 4);
    ctx.fillText(`${this.steps} steps`, Math.max(left + 40, right - 28), bottom + 4);

    const xOf = (step) => left + (step / this.steps) * (right - left);
    const yOf = (v) => bottom - ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (bottom - top);
    // Backprop first, so the solid FF line is on top where the two meet.
    for (const net of ["backprop", "ff"].filter((name) => nets.includes(name))) {
      if (this.history.length === 0) break;
      ctx.beginPath();
      this.history.forEach((h, i) => {
        const x = xOf(h.step);
        const y = yOf(h[net][key]);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.setLineDash(NETS[net].dash);
      ctx.lineWidth = 2.2;
      ctx.strokeStyle = colors[NETS[net].colour];
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
}

function niceCeiling(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

function formatLoss(value) {
  if (value === 0) return "0";
  return value >= 1 ? value.toFixed(1) : value.toFixed(2);
}
