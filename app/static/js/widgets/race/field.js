// One net's picture of the plane: the decision shading the server computed, the training points
// on top (class A filled dots, class B hollow rings, so shape carries the class as well as colour),
// and the point the reader asked about.
import { fitCanvas, readPalette } from "../../lib/canvas.js";

const PAD = 6; // keeps edge points and the marker from being clipped by the canvas border

/** "#0072b2" or any CSS colour -> [r, g, b], via the canvas's own colour parser. */
export function toRgb(color) {
  const probe = /** @type {CanvasRenderingContext2D} */ (document.createElement("canvas").getContext("2d"));
  probe.fillStyle = "#000";
  probe.fillStyle = color;
  const hex = String(probe.fillStyle); // normalised to #rrggbb for opaque colours
  if (hex.startsWith("#")) return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const parts = hex.match(/[\d.]+/g) || [0, 0, 0];
  return parts.slice(0, 3).map(Number);
}

export function palette() {
  return readPalette(["ink", "ink-soft", "paper", "rule", "focus", "class-a", "class-b", "ff", "backprop"]);
}

/** Decode the frame's grid (base64 of size*size uint8 P(A)*255, row 0 at the top). */
export function decodeGrid(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

export class FieldView {
  constructor(canvas) {
    this.canvas = canvas;
    this.extent = null;      // [xmin, xmax, ymin, ymax] from the server's `race` message
    this.points = [];        // [[x, y, label], ...]
    this.grid = null;        // {size, values: Uint8Array}
    this.marker = null;      // {x, y, label} of the last inference
    this.crosshair = null;   // {x, y} while choosing a point with the keyboard
    this.shadeCanvas = document.createElement("canvas");
    this.colors = palette();
    this.rgbA = toRgb(this.colors.classA);
    this.rgbB = toRgb(this.colors.classB);
    this.rgbPaper = toRgb(this.colors.paper);
    this.resize();
  }

  resize() {
    const { context, width, height } = fitCanvas(this.canvas);
    this.context = context;
    this.width = width;
    this.height = height;
  }

  setRace({ extent, points }) {
    this.extent = extent;
    this.points = points;
    this.grid = null;
    this.marker = null;
  }

  setGrid(size, base64) {
    this.grid = { size, values: decodeGrid(base64) };
    this.paintShade();
  }

  // The shade is painted once per frame at grid resolution; drawImage then scales it smoothly,
  // which costs far less than filling size*size rectangles on every redraw.
  paintShade() {
    const { size, values } = /** @type {{size: number, values: Uint8Array}} */ (this.grid);
    this.shadeCanvas.width = size;
    this.shadeCanvas.height = size;
    const shade = /** @type {CanvasRenderingContext2D} */ (this.shadeCanvas.getContext("2d"));
    const image = shade.createImageData(size, size);
    const strength = 0.42; // light enough that the points on top stay the loudest thing
    for (let i = 0; i < size * size; i += 1) {
      const p = values[i] / 255;
      const target = p >= 0.5 ? this.rgbA : this.rgbB;
      const mix = Math.abs(p - 0.5) * 2 * strength;
      for (let c = 0; c < 3; c += 1) {
        image.data[4 * i + c] = Math.round(this.rgbPaper[c] * (1 - mix) + target[c] * mix);
      }
      image.data[4 * i + 3] = 255;
    }
    shade.putImageData(image, 0, 0);
  }

  /** The square plot area inside the canvas, in CSS pixels. */
  plotBox() {
    const side = Math.max(1, Math.min(this.width, this.height) - 2 * PAD);
    return { left: (this.width - side) / 2, top: (this.height - side) / 2, side };
  }

  toPixel(x, y) {
    const [xmin, xmax, ymin, ymax] = this.extent;
    const { left, top, side } = this.plotBox();
    return [left + ((x - xmin) / (xmax - xmin)) * side, top + ((ymax - y) / (ymax - ymin)) * side];
  }

  /** CSS-pixel offset within the canvas -> data coordinates, or null outside the plot. */
  toData(px, py) {
    if (!this.extent) return null;
    const [xmin, xmax, ymin, ymax] = this.extent;
    const { left, top, side } = this.plotBox();
    const u = (px - left) / side;
    const v = (py - top) / side;
    if (u < 0 || u > 1 || v < 0 || v > 1) return null;
    return { x: xmin + u * (xmax - xmin), y: ymax - v * (ymax - ymin) };
  }

  draw() {
    const ctx = this.context;
    const { colors } = this;
    ctx.clearRect(0, 0, this.width, this.height);
    const { left, top, side } = this.plotBox();
    ctx.fillStyle = colors.paper;
    ctx.fillRect(left, top, side, side);
    if (this.grid) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.shadeCanvas, left, top, side, side);
    }
    ctx.strokeStyle = colors.rule;
    ctx.lineWidth = 1;
    ctx.strokeRect(left + 0.5, top + 0.5, side - 1, side - 1);
    if (!this.extent) return;

    // Point size follows the canvas so a phone shows the same picture, not a cloud of specks.
    const radius = Math.max(2.2, Math.min(4, side / 110));
    for (const [x, y, label] of this.points) {
      const [px, py] = this.toPixel(x, y);
      ctx.beginPath();
      ctx.arc(px, py, radius, 0, 2 * Math.PI);
      if (label === 0) {
        ctx.fillStyle = colors.classA;
        ctx.fill();
        ctx.lineWidth = 0.8;
        ctx.strokeStyle = colors.paper;
        ctx.stroke();
      } else {
        ctx.lineWidth = 1.6;
        ctx.strokeStyle = colors.classB;
        ctx.stroke();
      }
    }
    if (this.marker) this.drawMarker(this.marker, radius);
    if (this.crosshair) this.drawCrosshair(this.crosshair);
  }

  drawMarker({ x, y }, radius) {
    const ctx = this.context;
    const [px, py] = this.toPixel(x, y);
    const size = radius * 2.6;
    // A black-on-white double stroke stays visible over either class's shading.
    for (const [width, color] of [[4, this.colors.paper], [2, this.colors.ink]]) {
      ctx.lineWidth = width;
      ctx.strokeStyle = color;
      ctx.beginPath();
      ctx.moveTo(px - size, py - size);
      ctx.lineTo(px + size, py + size);
      ctx.moveTo(px + size, py - size);
      ctx.lineTo(px - size, py + size);
      ctx.stroke();
    }
  }

  drawCrosshair({ x, y }) {
    const ctx = this.context;
    const [px, py] = this.toPixel(x, y);
    const { left, top, side } = this.plotBox();
    ctx.save();
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = this.colors.focus;
    ctx.beginPath();
    ctx.moveTo(left, py);
    ctx.lineTo(left + side, py);
    ctx.moveTo(px, top);
    ctx.lineTo(px, top + side);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.arc(px, py, 7, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.restore();
  }
}
