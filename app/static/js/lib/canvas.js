// Canvas helpers shared by the widgets: crisp drawing on high-DPI screens, the palette, motion.

/** Size the canvas backing store to its CSS box times devicePixelRatio; returns the 2D context
 *  scaled so that drawing code works in CSS pixels. Call again after a resize. */
export function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const { width, height } = canvas.getBoundingClientRect();
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { context, width, height };
}

/** Read a CSS custom property (the palette lives in app/static/css/theme.css). */
export function cssVar(name, element = document.documentElement) {
  return getComputedStyle(element).getPropertyValue(name).trim();
}

/** Several palette entries at once: ["ink-soft", "ff"] -> {inkSoft: "#4a4a52", ff: "#009e73"}. */
export function readPalette(names) {
  return Object.fromEntries(names.map((name) => [name.replace(/-(\w)/g, (_, c) => c.toUpperCase()), cssVar(`--${name}`)]));
}

/** True when the reader asked the system for reduced motion. */
export function prefersReducedMotion() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

/** Vertical bars of `values` side by side across `width`, on a baseline at `bottom`; a bar of
 *  `scale` reaches `top`. Each slot's bar covers `fraction` of it, centred; `label(j)` is written
 *  under slot j at `labelY`, and `value(v)`, when given, just above its bar.
 *  Colours: `bar` for the bars, `ink` for the values and the baseline, `inkSoft` for the labels.
 *  @param {CanvasRenderingContext2D} context
 *  @param {number[]} values
 *  @param {{width: number, top: number, bottom: number, scale: number, fraction: number, labelY: number,
 *    label: (j: number) => string, value?: (v: number) => string, bar: string, ink: string, inkSoft: string}} o */
export function drawBarRow(context, values, o) {
  const slot = o.width / values.length;
  values.forEach((value, j) => {
    const barHeight = ((o.bottom - o.top) * value) / o.scale;
    const centre = j * slot + slot / 2;
    context.fillStyle = o.bar;
    context.fillRect(centre - (slot * o.fraction) / 2, o.bottom - barHeight, slot * o.fraction, barHeight);
    if (o.value) {
      context.fillStyle = o.ink;
      context.fillText(o.value(value), centre, Math.max(11, o.bottom - barHeight - 4));
    }
    context.fillStyle = o.inkSoft;
    context.fillText(o.label(j), centre, o.labelY);
  });
  context.strokeStyle = o.ink;
  context.beginPath();
  context.moveTo(0, o.bottom + 0.5);
  context.lineTo(o.width, o.bottom + 0.5);
  context.stroke();
}
