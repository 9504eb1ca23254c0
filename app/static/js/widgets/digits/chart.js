// Held-out error of both nets against minibatches, on a square-root scale (so that the last few
// percent, where FF and backprop differ, are as readable as the first drop from 90%).
import { fitCanvas, readPalette } from "../../lib/canvas.js";

const TICKS = [0.01, 0.05, 0.1, 0.25, 0.5, 1];

export class ErrorChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.steps = 1200;
    this.perEpoch = 40;
    /** @type {Array<[number, number, number]>} [step, ff error, backprop error] */
    this.points = [];
  }

  reset(steps, perEpoch) {
    this.steps = steps;
    this.perEpoch = perEpoch;
    this.points = [];
  }

  add(step, ff, bp) {
    while (this.points.length && this.points[this.points.length - 1][0] >= step) this.points.pop();
    this.points.push([step, ff, bp]);
  }

  draw() {
    const { context: c, width, height } = fitCanvas(this.canvas);
    const colors = readPalette(["ink-soft", "ink-faint", "grid", "ff", "backprop"]);
    const left = 40;
    const right = width - 8;
    const top = 8;
    const bottom = height - 26;
    const x = (step) => left + (right - left) * (step / Math.max(1, this.steps));
    const y = (error) => bottom - (bottom - top) * Math.sqrt(Math.max(0, Math.min(1, error)));
    c.clearRect(0, 0, width, height);
    c.font = "11px system-ui, sans-serif";
    c.lineWidth = 1;
    c.fillStyle = colors.inkFaint;
    c.textAlign = "right";
    c.textBaseline = "middle";
    for (const tick of TICKS) {
      c.strokeStyle = colors.grid;
      c.beginPath();
      c.moveTo(left, y(tick));
      c.lineTo(right, y(tick));
      c.stroke();
      c.fillText(`${tick * 100}%`, left - 4, y(tick));
    }
    c.textAlign = "center";
    c.textBaseline = "top";
    const epochs = this.steps / this.perEpoch;
    const every = width < 420 ? 10 : 5;
    for (let epoch = 0; epoch <= epochs; epoch += every) {
      c.fillText(String(epoch), x(epoch * this.perEpoch), bottom + 4);
    }
    c.fillText("epochs", (left + right) / 2, bottom + 14);
    const series = [[1, colors.ff, []], [2, colors.backprop, [5, 4]]];
    for (const [index, color, dash] of series) {
      c.strokeStyle = color;
      c.lineWidth = 2;
      c.setLineDash(dash);
      c.beginPath();
      this.points.forEach((point, i) => {
        const px = x(point[0]);
        const py = y(point[index]);
        if (i === 0) c.moveTo(px, py);
        else c.lineTo(px, py);
      });
      c.stroke();
    }
    c.setLineDash([]);
  }
}
