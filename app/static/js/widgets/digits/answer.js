// The answer for one digit: for each of the 10 labels, FF's goodness of each layer and the total as
// bars on ONE shared scale (the largest total fills a bar), the winner marked, a near tie called
// one; backprop's softmax probability beside it (its own 0-1 scale); and a sentence for screen readers.

/**
 * @typedef {object} DigitInference  the `inference` message (socket) or POST /api/digits/infer answer
 * @property {"live"|"ready"} source
 * @property {number|null} step        the live run's step the nets were at (null: the ready network)
 * @property {string} image            base64 of the 784 uint8 pixels the nets received
 * @property {{goodness: number[][], totals: number[], label: number, layers_summed: number[]}} ff
 * @property {{probabilities: number[], label: number}} backprop
 */

// Two totals within this fraction of the winner's are a near tie: the net barely prefers one.
export const NEAR_TIE = 0.05;

/** The runner-up label and whether it is a near tie. */
export function runnerUp(totals, winner) {
  let second = -1;
  totals.forEach((total, label) => {
    if (label !== winner && (second < 0 || total > totals[second])) second = label;
  });
  const top = totals[winner];
  const nearTie = top > 0 && (top - totals[second]) / top < NEAR_TIE;
  return { second, nearTie };
}

const one = (value) => (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1));

function bar(value, scale, kind) {
  const cell = document.createElement("td");
  const track = document.createElement("span");
  track.className = `bar bar-${kind}`;
  const fill = document.createElement("span");
  fill.className = "bar-fill";
  fill.style.width = `${Math.max(0, Math.min(1, scale > 0 ? value / scale : 0)) * 100}%`;
  track.append(fill);
  const number = document.createElement("span");
  number.className = "bar-value";
  number.textContent = kind === "probability" ? `${(value * 100).toFixed(value > 0.001 && value < 0.999 ? 1 : 0)}%` : one(value);
  cell.append(track, number);
  return cell;
}

/** Fill the answer table and return the sentence that says it. */
export function renderAnswer(tbody, result, { sourceName }) {
  const { ff, backprop } = result;
  const scale = Math.max(...ff.totals, ...ff.goodness.flat(), 1e-9);
  const { second, nearTie } = runnerUp(ff.totals, ff.label);
  const rows = ff.totals.map((total, label) => {
    const row = document.createElement("tr");
    row.dataset.label = String(label);
    row.dataset.total = String(total);
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = String(label);
    if (label === ff.label) {
      row.classList.add("winner");
      head.textContent = `${label} ★`;
      head.setAttribute("aria-label", `${label}, FF's answer`);
    } else if (nearTie && label === second) {
      row.classList.add("near-tie");
      head.textContent = `${label} ≈`;
      head.setAttribute("aria-label", `${label}, near tie`);
    }
    if (label === backprop.label) row.classList.add("backprop-winner");
    row.append(head);
    for (const layer of ff.goodness[label]) row.append(bar(layer, scale, "layer"));
    row.append(bar(total, scale, "total"));
    row.append(bar(backprop.probabilities[label], 1, "probability"));
    return row;
  });
  tbody.replaceChildren(...rows);
  const layers = ff.layers_summed.map((i) => i + 1).join(" and ");
  let sentence = `${sourceName}: Forward-Forward reads ${ff.label} (goodness of layers ${layers} summed: `
    + `${one(ff.totals[ff.label])}; next best ${second}: ${one(ff.totals[second])})`;
  if (nearTie) sentence += `, a near tie between ${ff.label} and ${second}`;
  const p = backprop.probabilities[backprop.label];
  sentence += `. Backprop reads ${backprop.label} with probability ${(p * 100).toFixed(p < 0.999 ? 1 : 0)}%`;
  sentence += backprop.label === ff.label ? "; they agree." : "; they disagree.";
  return sentence;
}
