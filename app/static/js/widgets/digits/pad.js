// The drawing pad: pointer events (mouse, touch, pen) become strokes of [x, y] points in [0, 1]
// (x right, y down). `touch-action: none` on the pad (digits.css) keeps a finger's stroke on the
// pad from scrolling the page; everywhere else the page scrolls as usual.

const MIN_STEP = 0.008;      // a new point only once the pen moved this far: small payloads
const MAX_POINTS = 3000;     // below the server's 4,000-point limit, with room to spare
const MAX_STROKES = 60;      // below its 64 strokes

/** @typedef {Array<[number, number]>} Stroke */

export class DrawingPad {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{onStroke: (strokes: Stroke[]) => void, color: () => string}} options
   */
  constructor(canvas, { onStroke, color }) {
    this.canvas = canvas;
    this.onStroke = onStroke;
    this.color = color;
    /** @type {Stroke[]} */
    this.strokes = [];
    this.current = null;
    this.pointerId = null;
    canvas.addEventListener("pointerdown", (event) => this.down(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.up(event));
    canvas.addEventListener("pointercancel", (event) => this.up(event));
    new ResizeObserver(() => this.redraw()).observe(canvas);
  }

  points() {
    return this.strokes.reduce((sum, stroke) => sum + stroke.length, 0);
  }

  /** @returns {[number, number]} */
  position(event) {
    const box = this.canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) / box.width;
    const y = (event.clientY - box.top) / box.height;
    return [Math.round(Math.min(1, Math.max(0, x)) * 1000) / 1000, Math.round(Math.min(1, Math.max(0, y)) * 1000) / 1000];
  }

  down(event) {
    if (this.pointerId !== null || event.button > 0) return;
    if (this.strokes.length >= MAX_STROKES || this.points() >= MAX_POINTS) return;
    event.preventDefault();
    this.pointerId = event.pointerId;
    this.canvas.setPointerCapture?.(event.pointerId);
    this.current = [this.position(event)];
    this.strokes.push(this.current);
    this.redraw();
  }

  move(event) {
    if (event.pointerId !== this.pointerId || !this.current) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) {
      if (this.points() >= MAX_POINTS) break;
      const point = this.position(each);
      const last = this.current[this.current.length - 1];
      if (Math.hypot(point[0] - last[0], point[1] - last[1]) >= MIN_STEP) this.current.push(point);
    }
    this.redraw();
  }

  up(event) {
    if (event.pointerId !== this.pointerId) return;
    if (this.current) {
      const point = this.position(event);
      const last = this.current[this.current.length - 1];
      if (point[0] !== last[0] || point[1] !== last[1]) this.current.push(point);
    }
    this.pointerId = null;
    this.current = null;
    this.redraw();
    this.onStroke(this.strokes.map((stroke) => stroke.slice()));
  }

  clear() {
    this.strokes = [];
    this.current = null;
    this.pointerId = null;
    this.redraw();
  }

  redraw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const { width, height } = canvas.getBoundingClientRect();
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const context = canvas.getContext("2d");
    if (!context) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    context.strokeStyle = this.color();
    context.fillStyle = this.color();
    context.lineWidth = Math.max(6, width * 0.045);
    context.lineCap = "round";
    context.lineJoin = "round";
    for (const stroke of this.strokes) {
      context.beginPath();
      context.moveTo(stroke[0][0] * width, stroke[0][1] * height);
      if (stroke.length === 1) context.lineTo(stroke[0][0] * width + 0.1, stroke[0][1] * height);
      for (const [x, y] of stroke.slice(1)) context.lineTo(x * width, y * height);
      context.stroke();
    }
  }
}
