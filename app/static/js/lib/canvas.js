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
