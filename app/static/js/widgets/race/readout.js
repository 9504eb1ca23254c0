// What each net says about the point the reader chose: FF's goodness for each candidate label,
// layer by layer and summed over the layers its rule counts (the larger sum wins), and backprop's
// softmax probabilities. Every goodness bar shares one scale, so any two bars can be compared.
import { fixed } from "../../lib/format.js";
import { LETTERS, className } from "./classes.js";
import { compareTotals, layersText, summedLayers } from "./describe.js";

/** A new `tag` element with this class and text (either may be left out). */
export function makeElement(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A bar with its number; `fraction` in [0, 1] of the table's one scale. */
/**
 * @param {number} value
 * @param {number} fraction
 * @param {string} modifier
 * @param {{ref?: string, digits?: number}} [options] ref: the data-ref the tests find the number by
 */
function barCell(value, fraction, modifier, { ref, digits = 2 } = {}) {
  const cell = makeElement("td");
  const wrap = makeElement("div", "race-bar-cell");
  const track = makeElement("span", "race-bar-track");
  const fill = makeElement("span", `race-bar race-bar--${modifier}`);
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  track.append(fill);
  const number = makeElement("span", "race-bar-value", fixed(value, digits));
  if (ref) number.dataset.ref = ref;
  wrap.append(track, number);
  cell.append(wrap);
  return cell;
}

function pointText({ x, y, step }) {
  return `Point (${fixed(x, 2)}, ${fixed(y, 2)}) at step ${step}`;
}

function verdictNode(label, classes, ref) {
  const node = makeElement("strong", `race-verdict race-verdict--${label === 0 ? "a" : "b"}`, className(classes, label));
  node.dataset.ref = ref;
  return node;
}

/** Why FF chose its label, in words that admit a tie or a near tie rather than hide it. */
function whyItWon(inference, comparison, summed, layerCount) {
  const { label, totals } = inference.ff;
  const winner = `label ${LETTERS[label]}`;
  const others = totals.map((_, i) => i).filter((i) => i !== label).map((i) => `label ${LETTERS[i]}`).join(" and ");
  const over = summed.length === layerCount ? ""
    : ` in ${layersText(summed)} (the ${summed.length === 1 ? "only layer" : "layers"} the rule counts)`;
  if (comparison.equal) {
    return `, though ${winner} and ${others} give equal total goodness${over} (to ${comparison.digits} decimals): `
      + `a tie, which the rule settles as ${winner}.`;
  }
  if (comparison.near) {
    return `, but only just: a near tie, ${winner}'s total goodness${over} is `
      + `${fixed(comparison.relative * 100, comparison.relative < 0.001 ? 3 : 1)}% above ${others}'s.`;
  }
  return `, because ${winner} gives more total goodness${over}.`;
}

/** classes: the race's class names, index = label (or null). */
export function renderForwardForward(container, inference, classes = null) {
  const { goodness, totals, label } = inference.ff;
  const layerCount = goodness[0].length;
  const summed = summedLayers(inference);
  const comparison = compareTotals(totals);

  const decision = makeElement("p", "race-decision");
  decision.append(`${pointText(inference)}: `, verdictNode(label, classes, "ff-decision"),
    whyItWon(inference, comparison, summed, layerCount));

  // One scale for every bar, layers and totals alike: goodness is never negative, so the largest
  // value shown (a total, unless a layer is left out of the sum) fills its track and nothing overflows.
  const scale = Math.max(1e-12, ...totals, ...goodness.flat());
  const table = makeElement("table", "race-goodness");
  const countedNote = summed.length === layerCount ? "" : ` The total counts only the ${layersText(summed)}.`;
  table.append(makeElement("caption", "race-table-caption",
    "Goodness (sum of squared activities) with each label in the input. "
    + `All bars share one scale, 0 to ${fixed(scale, 2)}.${countedNote}`));
  const head = makeElement("tr");
  head.append(makeElement("td"), ...totals.map((_, candidate) => {
    const th = makeElement("th", "", `label ${LETTERS[candidate]}`);
    th.scope = "col";
    return th;
  }));
  const thead = makeElement("thead");
  thead.append(head);
  table.append(thead);
  const body = makeElement("tbody");
  for (let layer = 0; layer < layerCount; layer += 1) {
    const counted = summed.includes(layer);
    const row = makeElement("tr", counted ? "" : "race-goodness-skipped");
    const th = makeElement("th", "", `layer ${layer + 1}`);
    if (!counted) th.append(makeElement("span", "race-goodness-note", " not counted"));
    th.scope = "row";
    row.append(th);
    goodness.forEach((values, candidate) => {
      row.append(barCell(values[layer], values[layer] / scale, candidate === 0 ? "a" : "b"));
    });
    body.append(row);
  }
  const total = makeElement("tr", "race-goodness-total");
  const th = makeElement("th", "", comparison.equal ? "total (equal)" : "total");
  th.scope = "row";
  total.append(th);
  totals.forEach((value, candidate) => {
    const letter = candidate === 0 ? "a" : "b";
    total.append(barCell(value, value / scale, letter, { ref: `total-${letter}`, digits: comparison.digits }));
  });
  body.append(total);
  table.append(body);
  container.replaceChildren(decision, table);
}

export function renderBackprop(container, inference, classes = null) {
  const { probabilities, label } = inference.backprop;
  const decision = makeElement("p", "race-decision");
  decision.append(`${pointText(inference)}: `, verdictNode(label, classes, "bp-decision"),
    ", the larger softmax probability.");

  const table = makeElement("table", "race-goodness");
  table.append(makeElement("caption", "race-table-caption", "Softmax probability of each class"));
  const body = makeElement("tbody");
  probabilities.forEach((p, candidate) => {
    const row = makeElement("tr");
    const th = makeElement("th", "", `class ${LETTERS[candidate]}`);
    th.scope = "row";
    const letter = candidate === 0 ? "a" : "b";
    row.append(th, barCell(p, p, letter, { ref: `prob-${letter}` }));
    body.append(row);
  });
  table.append(body);
  container.replaceChildren(decision, table);
}

export function renderPrompt(container, text) {
  container.replaceChildren(makeElement("p", "race-prompt", text));
}
