// What each net says about the point the reader chose: FF's goodness for each candidate label,
// layer by layer and summed (the larger sum wins), and backprop's softmax probabilities.
import { fixed } from "../lib/format.js";

const CLASS_NAMES = ["class A", "class B"];
const LABEL_NAMES = ["label A", "label B"];

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A bar with its number; `fraction` in [0, 1] of the row's scale. */
function bar(value, fraction, modifier, ref) {
  const cell = element("td");
  const wrap = element("div", "race-bar-cell");
  const track = element("span", "race-bar-track");
  const fill = element("span", `race-bar race-bar--${modifier}`);
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  track.append(fill);
  const number = element("span", "race-bar-value", fixed(value, 2));
  if (ref) number.dataset.ref = ref;
  wrap.append(track, number);
  cell.append(wrap);
  return cell;
}

function pointText({ x, y, step }) {
  return `Point (${fixed(x, 2)}, ${fixed(y, 2)}) at step ${step}`;
}

export function renderForwardForward(container, inference) {
  const { goodness, totals, label } = inference.ff;
  const decision = element("p", "race-decision");
  decision.append(`${pointText(inference)}: `);
  const verdict = element("strong", `race-verdict race-verdict--${label === 0 ? "a" : "b"}`, CLASS_NAMES[label]);
  verdict.dataset.ref = "ff-decision";
  decision.append(verdict, `, because ${LABEL_NAMES[label]} gives more total goodness.`);

  const table = element("table", "race-goodness");
  table.append(element("caption", "race-table-caption",
    "Goodness (sum of squared activities) with each label in the input"));
  const head = element("tr");
  head.append(element("th", "", ""), ...LABEL_NAMES.map((name) => {
    const th = element("th", "", name);
    th.scope = "col";
    return th;
  }));
  const thead = element("thead");
  thead.append(head);
  table.append(thead);
  const body = element("tbody");
  // Each row has its own scale: the comparison that matters is A against B within a row.
  const rows = goodness[0].map((_, layer) => [`layer ${layer + 1}`, goodness.map((g) => g[layer]), false]);
  rows.push(["sum", totals, true]);
  for (const [name, values, isTotal] of rows) {
    const row = element("tr", isTotal ? "race-goodness-total" : "");
    const th = element("th", "", name);
    th.scope = "row";
    row.append(th);
    const scale = Math.max(1e-9, ...values);
    values.forEach((value, candidate) => {
      row.append(bar(value, value / scale, candidate === 0 ? "a" : "b",
        isTotal ? `total-${candidate === 0 ? "a" : "b"}` : undefined));
    });
    body.append(row);
  }
  table.append(body);
  container.replaceChildren(decision, table);
}

export function renderBackprop(container, inference) {
  const { probabilities, label } = inference.backprop;
  const decision = element("p", "race-decision");
  decision.append(`${pointText(inference)}: `);
  const verdict = element("strong", `race-verdict race-verdict--${label === 0 ? "a" : "b"}`, CLASS_NAMES[label]);
  verdict.dataset.ref = "bp-decision";
  decision.append(verdict, ", the larger softmax probability.");

  const table = element("table", "race-goodness");
  table.append(element("caption", "race-table-caption", "Softmax probability of each class"));
  const body = element("tbody");
  probabilities.forEach((p, candidate) => {
    const row = element("tr");
    const th = element("th", "", CLASS_NAMES[candidate]);
    th.scope = "row";
    row.append(th, bar(p, p, candidate === 0 ? "a" : "b", `prob-${candidate === 0 ? "a" : "b"}`));
    body.append(row);
  });
  table.append(body);
  container.replaceChildren(decision, table);
}

export function renderPrompt(container, text) {
  container.replaceChildren(element("p", "race-prompt", text));
}
