// The normalization drag: the reader moves a 2-unit activity vector y; the widget shows its
// goodness, the ray through it, the unit vector h the next layer receives, and that next layer's
// response. The response is computed here (a round trip per frame would stutter) with the
// engine's weights, rendered into the page; a browser test holds this formula to the engine's.
// Touch: only the handle over the vector's tip drags it (touch-action: none there); a swipe that
// starts anywhere else on the plane scrolls the page, and a tap puts the vector where it landed.
import { cssVar, drawBarRow, fitCanvas } from "../lib/canvas.js";
import { fixed } from "../lib/format.js";
import { arrow, diamond, dot } from "../lib/shapes.js";

const EXTENT = 2.5;        // the plane shows y1, y2 in [-EXTENT, EXTENT]
const KEY_STEP = 0.1;
const KEY_STEP_BIG = 0.5;
const RAY_FACTOR = 1.25;   // one press of + or "Longer" stretches y by this much along its ray
const START = [1.2, 0.8];  // where y starts, and where Home puts it back

/** h = y / (||y|| + epsilon): the engine's normalization (app/engine/ff.py). */
export function normalize(y, epsilon) {
  const length = Math.sqrt(y.reduce((sum, value) => sum + value * value, 0));
  return y.map((value) => value / (length + epsilon));
}

/** The next layer's response max(0, W h + b), as app.engine.demos.next_layer_response. */
export function nextLayerResponse(layer, y) {
  const h = normalize(y, layer.epsilon);
  return layer.weights.map((row, j) => Math.max(0, row.reduce((sum, w, i) => sum + w * h[i], 0) + layer.bias[j]));
}

export function goodness(y) {
  return y.reduce((sum, value) => sum + value * value, 0);
}

export function mount(root) {
  const layer = JSON.parse(root.dataset.nextLayer || "{}");
  if (!Array.isArray(layer.weights)) throw new Error("normalization widget: the page has no next-layer weights");
  const plane = root.querySelector(".normalization-plane");
  const handle = root.querySelector('[data-ref="handle"]');
  const responseCanvas = root.querySelector(".next-layer");
  const description = root.querySelector("#normalization-description");
  const readout = (name) => root.querySelector(`.readout-${name}`);
  const palette = {
    ink: cssVar("--ink"), inkSoft: cssVar("--ink-soft"), inkFaint: cssVar("--ink-faint"), grid: cssVar("--grid"),
    vector: cssVar("--class-a"), seen: cssVar("--update"), bar: cssVar("--ff"),
  };

  let y = START;
  let frame = 0;
  let dragging = false;
  let planeBox = null;      // fitCanvas results, kept until a resize: a drag redraws every frame
  let responseBox = null;

  function clampAlongRay(vector) {
    // Shrink the whole vector (never one coordinate) so its direction survives the clamp.
    const largest = Math.max(Math.abs(vector[0]), Math.abs(vector[1]));
    return largest > EXTENT ? vector.map((value) => (value * EXTENT) / largest) : vector;
  }

  function setVector(vector, { announce = true } = {}) {
    y = clampAlongRay(vector);
    publish();
    if (announce) describe();
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function toPlane(clientX, clientY) {
    const rect = plane.getBoundingClientRect();
    const scale = rect.width / (2 * EXTENT);
    return [(clientX - rect.left) / scale - EXTENT, EXTENT - (clientY - rect.top) / scale];
  }

  function describe() {
    const h = normalize(y, layer.epsilon);
    const response = nextLayerResponse(layer, y);
    description.textContent = `y = (${fixed(y[0], 2)}, ${fixed(y[1], 2)}), goodness ${fixed(goodness(y), 2)}. `
      + `The next layer sees h = (${fixed(h[0], 3)}, ${fixed(h[1], 3)}) and responds `
      + `${response.map((value) => fixed(value, 3)).join(", ")}.`;
    plane.setAttribute("aria-label", `Activity vector plane. ${description.textContent} `
      + "Arrow keys move the vector; plus and minus slide it along its ray.");
  }

  // The numbers change at once (readouts, data- attributes); the pictures once per frame.
  function publish() {
    const h = normalize(y, layer.epsilon);
    const g = goodness(y);
    readout("vector").textContent = `(${fixed(y[0], 2)}, ${fixed(y[1], 2)})`;
    readout("goodness").textContent = fixed(g, 2);
    readout("normalized").textContent = `(${fixed(h[0], 3)}, ${fixed(h[1], 3)})`;
    Object.assign(root.dataset, {
      y: JSON.stringify(y), goodness: String(g), normalized: JSON.stringify(h),
      response: JSON.stringify(nextLayerResponse(layer, y)),
    });
  }

  function draw() {
    frame = 0;
    drawPlane(normalize(y, layer.epsilon));
    drawResponse(nextLayerResponse(layer, y));
  }

  function drawPlane(h) {
    if (!planeBox) planeBox = fitCanvas(plane);
    const { context, width } = planeBox;
    const scale = width / (2 * EXTENT);
    const px = (value) => (value + EXTENT) * scale;
    const py = (value) => (EXTENT - value) * scale;
    context.clearRect(0, 0, width, width);
    context.lineWidth = 1;
    context.strokeStyle = palette.grid;
    for (let v = -2; v <= 2; v += 1) {
      context.beginPath();
      context.moveTo(px(v), 0); context.lineTo(px(v), width);
      context.moveTo(0, py(v)); context.lineTo(width, py(v));
      context.stroke();
    }
    context.strokeStyle = palette.inkFaint;
    context.beginPath();
    context.moveTo(px(0), 0); context.lineTo(px(0), width);
    context.moveTo(0, py(0)); context.lineTo(width, py(0));
    context.stroke();
    context.font = "12px system-ui, sans-serif";
    context.fillStyle = palette.inkSoft;
    context.fillText("y₁", width - 18, py(0) - 6);
    context.fillText("y₂", px(0) + 6, 14);

    // Same goodness lies on a circle through y: dotted, to contrast with the unit circle.
    const length = Math.hypot(y[0], y[1]);
    context.setLineDash([1, 4]);
    context.beginPath();
    context.arc(px(0), py(0), length * scale, 0, 2 * Math.PI);
    context.stroke();
    context.setLineDash([]);
    context.strokeStyle = palette.ink;
    context.lineWidth = 1.5;
    context.beginPath();
    context.arc(px(0), py(0), scale, 0, 2 * Math.PI);
    context.stroke();
    context.fillStyle = palette.inkSoft;
    // Labelled in the lower-left, away from the default vector in the upper-right.
    context.textAlign = "right";
    context.fillText("unit circle", px(-0.72) - 4, py(-0.72) + 14);
    context.textAlign = "left";

    if (length > 1e-9) {
      // The dashed ray: every point on it normalizes to the same h.
      const reach = EXTENT * 1.5;
      context.strokeStyle = palette.inkSoft;
      context.setLineDash([7, 5]);
      context.beginPath();
      context.moveTo(px(0), py(0));
      context.lineTo(px(h[0] * reach), py(h[1] * reach));
      context.stroke();
      context.setLineDash([]);
    }
    arrow(context, px(0), py(0), px(y[0]), py(y[1]), palette.vector, { width: 3, head: 10 });
    dot(context, px(y[0]), py(y[1]), dragging ? 9 : 7, palette.vector, palette.ink);
    diamond(context, px(h[0]), py(h[1]), 8, palette.ink, palette.seen);
    handle.style.transform = `translate(${px(y[0])}px, ${py(y[1])}px)`;
    context.fillStyle = palette.ink;
    context.font = "bold 13px system-ui, sans-serif";
    context.fillText("y", px(y[0]) + 10, py(y[1]) - 10);
    context.fillText("h", px(h[0]) - 20, py(h[1]) - 6);
  }

  function drawResponse(response) {
    if (!responseBox) responseBox = fitCanvas(responseCanvas);
    const { context, width, height } = responseBox;
    context.clearRect(0, 0, width, height);
    context.font = "12px system-ui, sans-serif";
    context.textAlign = "center";
    drawBarRow(context, response, {
      ...palette,
      width,
      top: 14,
      bottom: height - 18,
      scale: Math.max(1.5, ...response),
      fraction: 0.6,
      labelY: height - 4,
      label: (j) => `unit ${j + 1}`,
      value: (v) => fixed(v, 3),
    });
  }

  const alongRay = (factor) => setVector(y.map((value) => value * factor));

  const startDrag = (element, event) => {
    dragging = true;
    element.setPointerCapture(event.pointerId);
    setVector(toPlane(event.clientX, event.clientY), { announce: false });
  };
  const moveDrag = (event) => {
    if (dragging) setVector(toPlane(event.clientX, event.clientY), { announce: false });
  };
  const endDrag = () => {
    if (!dragging) return;
    dragging = false;
    describe();  // announce where the vector came to rest, not every frame of the drag
    if (!frame) frame = requestAnimationFrame(draw);
  };
  // A mouse or pen drags from anywhere on the plane; a finger only from the handle, so that a
  // swipe across the plane stays a scroll of the page.
  let tapPending = false;  // a finger went down on the plane: a tap, if a click follows
  plane.addEventListener("pointerdown", (event) => {
    tapPending = event.pointerType === "touch";
    if (event.pointerType !== "touch") startDrag(plane, event);
  });
  handle.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    startDrag(handle, event);
  });
  for (const element of [plane, handle]) {
    element.addEventListener("pointermove", moveDrag);
    element.addEventListener("pointerup", endDrag);
    element.addEventListener("pointercancel", endDrag);
  }
  // A tap puts the vector where it landed (a swipe that scrolled the page ends in no click; a
  // mouse already put it there on pointerdown).
  plane.addEventListener("click", (event) => {
    if (!tapPending) return;
    tapPending = false;
    setVector(toPlane(event.clientX, event.clientY));
  });
  plane.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? KEY_STEP_BIG : KEY_STEP;
    const moves = { ArrowRight: [step, 0], ArrowLeft: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[event.key]) setVector([y[0] + moves[event.key][0], y[1] + moves[event.key][1]]);
    else if (event.key === "+" || event.key === "=") alongRay(RAY_FACTOR);
    else if (event.key === "-" || event.key === "_") alongRay(1 / RAY_FACTOR);
    else if (event.key === "Home") setVector(START);
    else return;
    event.preventDefault();
  });
  root.querySelector('[data-action="longer"]').addEventListener("click", () => alongRay(RAY_FACTOR));
  root.querySelector('[data-action="shorter"]').addEventListener("click", () => alongRay(1 / RAY_FACTOR));

  new ResizeObserver(() => {
    planeBox = null;
    responseBox = null;
    if (!frame) frame = requestAnimationFrame(draw);
  }).observe(root);
  setVector(y);
  handle.hidden = false;
  root.dataset.loaded = "true";

  return {
    pause() {
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
    },
    resume() {
      if (!frame) frame = requestAnimationFrame(draw);
    },
  };
}
