// Draws one side of the step animation (backprop or FF) at one moment of the engine's trace.
// The picture is derived only from the recorded events: which arrays the step holds (`held`),
// which layer the event touches, and which layers have been updated so far.
import { arrow, square, star } from "../../lib/shapes.js";

/** The state of a trace after its first `count` events: what a reader should see then. */
export function traceState(trace, count) {
  const events = trace.events;
  const current = count > 0 ? events[Math.min(count, events.length) - 1] : null;
  const updates = [];
  let lossSeen = null;
  for (const event of events.slice(0, count)) {
    if (event.kind === "update") updates.push({ layer: event.layer, polarity: event.polarity });
    if (event.kind === "loss" && trace.algorithm === "backprop") lossSeen = event.loss;
  }
  return {
    current,
    held: current ? current.held : [],
    bytesHeld: current ? current.bytes_held : 0,
    updates,
    loss: lossSeen,
    done: count >= events.length,
  };
}

/** Which box (0 = input, i = layer i) a held array's name belongs to. */
function boxOfArray(name) {
  if (name === "input") return 0;
  const match = /(\d+)/.exec(name);
  if (match) return Number(match[1]);
  return null;  // e.g. "probabilities": the top layer's, placed by the caller
}

function ordinal(n) {
  const suffix = n % 10 === 1 && n !== 11 ? "st" : n % 10 === 2 && n !== 12 ? "nd" : n % 10 === 3 && n !== 13 ? "rd" : "th";
  return `${n}${suffix}`;
}

function polarityColor(palette, polarity) {
  if (polarity === "positive") return palette.positive;
  if (polarity === "negative") return palette.negative;
  return palette.backprop;
}

/**
 * Draw the pane. `rows` is shared by both panes so that layers line up side by side;
 * `progress` in [0, 1] animates the current event (1 when motion is reduced).
 */
export function drawSteps(context, width, height, trace, state, palette, { rows, progress = 1 }) {
  const sizes = trace.layer_sizes;
  const layerCount = sizes.length - 1;
  const isBackprop = trace.algorithm === "backprop";
  const pitch = height / rows;
  const boxHeight = Math.min(34, pitch * 0.6);
  const boxWidth = Math.min(190, width * 0.5);
  const centerX = width * 0.5;
  const boxTop = (box) => height - (box + 0.5) * pitch - boxHeight / 2;
  const lossBox = layerCount + 1;

  context.clearRect(0, 0, width, height);
  context.font = "13px system-ui, sans-serif";
  context.textBaseline = "middle";

  const current = state.current;
  const active = current && current.layer != null ? current.layer : null;

  // Boxes: input, the layers, and (backprop only) the global loss on top.
  const boxes = [...Array(layerCount + 1).keys()];
  if (isBackprop) boxes.push(lossBox);
  for (const box of boxes) {
    const top = boxTop(box);
    const left = centerX - boxWidth / 2;
    const isLoss = isBackprop && box === lossBox;
    const highlighted = (box === active && current.kind !== "release")
      || (isLoss && current && current.kind === "loss");
    context.fillStyle = isLoss && state.loss != null ? palette.paperSoft : palette.paper;
    context.fillRect(left, top, boxWidth, boxHeight);
    context.lineWidth = highlighted ? 3 : 1;
    context.strokeStyle = highlighted ? palette.ink : palette.inkSoft;
    context.setLineDash(isLoss && state.loss == null ? [4, 3] : []);
    context.strokeRect(left, top, boxWidth, boxHeight);
    context.setLineDash([]);
    context.fillStyle = palette.ink;
    context.textAlign = "center";
    let label;
    if (box === 0) label = `input · ${sizes[0]}`;
    else if (isLoss) label = state.loss != null ? `loss ${state.loss.toFixed(3)}` : "loss";
    else if (isBackprop && box === layerCount) label = `output · ${sizes[box]}`;
    else label = `layer ${box} · ${sizes[box]} units`;
    context.fillText(label, centerX, top + boxHeight / 2);
  }

  // Memory badges: one square per array the step holds, on the box it belongs to.
  const badgesPerBox = new Map();
  for (const name of state.held) {
    const box = boxOfArray(name) ?? layerCount;
    const list = badgesPerBox.get(box) || [];
    list.push(name);
    badgesPerBox.set(box, list);
  }
  for (const [box, names] of badgesPerBox) {
    names.forEach((name, i) => {
      const x = centerX + boxWidth / 2 + 12 + i * 20;
      const y = boxTop(box) + boxHeight / 2;
      square(context, x, y, 7, palette.memory, palette.ink);
      context.fillStyle = palette.ink;
      context.textAlign = "center";
      context.font = "bold 10px system-ui, sans-serif";
      context.fillText(name.startsWith("normalized") ? "h" : name === "input" ? "x" : "a", x, y + 0.5);
      context.font = "13px system-ui, sans-serif";
    });
  }

  // Updates so far: a small star per update, numbered in the order they happened.
  const perLayer = new Map();
  state.updates.forEach((update, order) => {
    const list = perLayer.get(update.layer) || [];
    list.push({ ...update, order: order + 1 });
    perLayer.set(update.layer, list);
  });
  for (const [layer, list] of perLayer) {
    list.forEach((update, i) => {
      const x = centerX - boxWidth / 2 - 14 - i * 34;
      const y = boxTop(layer) + boxHeight / 2;
      star(context, x, y, 8, palette.update, polarityColor(palette, update.polarity));
      context.fillStyle = palette.ink;
      context.textAlign = "right";
      context.font = "11px system-ui, sans-serif";
      context.fillText(ordinal(update.order), x - 10, y);
      context.font = "13px system-ui, sans-serif";
    });
  }

  if (!isBackprop && rows > layerCount + 1) {
    // FF's empty top row is the point: there is no global loss waiting up there.
    context.fillStyle = palette.inkSoft;
    context.textAlign = "center";
    context.fillText("no global loss, no backward sweep", centerX, pitch * 0.6);
  }

  if (!current) return;
  // The current event, drawn on top: a pass arrow, the backward error, an update flash.
  const color = polarityColor(palette, current.polarity);
  const below = (box) => boxTop(box) + boxHeight;
  const above = (box) => boxTop(box);
  const x = centerX;
  if (current.kind === "forward") {
    const from = below(active - 1) - 2;
    const to = above(active) + boxHeight * 0.15;
    arrow(context, x, from, x, from + (to - from) * progress, color, { width: 3 });
    if (current.polarity) drawPolaritySign(context, x - 16, (from + to) / 2, current.polarity, color);
  } else if (current.kind === "loss" && isBackprop) {
    const from = above(layerCount);
    const to = below(lossBox) + 2;
    arrow(context, x, from, x, from + (to - from) * progress, color, { width: 3 });
  } else if (current.kind === "loss") {
    context.fillStyle = color;
    context.textAlign = "left";
    context.fillText("own loss", centerX + boxWidth / 2 + 54, boxTop(active) + boxHeight / 2);
  } else if (current.kind === "backward") {
    // The error descends from the box above (the loss, for the output layer) into this layer.
    const from = below(active + 1) + 2;
    const to = above(active) - 2;
    arrow(context, x + 24, from, x + 24, from + (to - from) * progress, palette.backprop,
      { width: 3, dashed: true });
  } else if (current.kind === "update") {
    const radius = 10 + 6 * (1 - progress);
    star(context, centerX - boxWidth / 2 + 16, boxTop(active) + boxHeight / 2, radius, palette.update, palette.ink);
  } else if (current.kind === "normalize") {
    const y = above(active) - (pitch - boxHeight) / 2;
    context.beginPath();
    context.arc(x, y, 7, 0, 2 * Math.PI);
    context.lineWidth = 2;
    context.strokeStyle = palette.ink;
    context.stroke();
    context.fillStyle = palette.ink;
    context.textAlign = "left";
    context.fillText("normalized", x + 12, y);
  }
}

function drawPolaritySign(context, x, y, polarity, color) {
  context.fillStyle = color;
  context.textAlign = "center";
  context.font = "bold 18px system-ui, sans-serif";
  context.fillText(polarity === "negative" ? "−" : "+", x, y);
  context.font = "13px system-ui, sans-serif";
}

/** A sentence for screen readers and the status line. */
export function describeState(trace, state, count) {
  const total = trace.events.length;
  if (!state.current) return `Before the step: nothing held yet. ${total} recorded events to go.`;
  const event = state.current;
  let sentence = `Event ${Math.min(count, total)} of ${total}: ${event.detail || event.kind}`;
  if (event.kind === "update") {
    sentence += ` (update ${state.updates.length}${event.polarity ? `, ${event.polarity} pass` : ""})`;
  }
  const held = state.held.length ? state.held.join(", ") : "nothing";
  sentence += `. Holding ${held}: ${state.bytesHeld.toLocaleString("en")} bytes.`;
  if (state.done) sentence += " The step is complete.";
  return sentence;
}
