// The strip of held-out digits with each net's current guess (wrong ones marked with ✗, not by
// colour alone), each a button that reads the digit below; and FF's per-layer goodness table.
import { decodeImage, paintDigit } from "./image.js";

/** @typedef {{index: number, label: number, image: string}} HeldOutDigit  GET /api/digits/heldout */

export class Strip {
  /**
   * @param {HTMLOListElement} list
   * @param {HeldOutDigit[]} digits
   * @param {(digit: HeldOutDigit) => void} onChoose
   */
  constructor(list, digits, onChoose) {
    this.digits = digits;
    this.items = digits.map((digit) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "strip-digit";
      button.dataset.heldout = String(digit.index);
      const canvas = document.createElement("canvas");
      canvas.setAttribute("aria-hidden", "true");
      paintDigit(canvas, decodeImage(digit.image));
      const ff = document.createElement("span");
      ff.className = "guess guess-ff";
      const bp = document.createElement("span");
      bp.className = "guess guess-bp";
      button.append(canvas, ff, bp);
      button.addEventListener("click", () => onChoose(digit));
      item.append(button);
      return { digit, button, ff, bp, item };
    });
    list.replaceChildren(...this.items.map(({ item }) => item));
    this.show(null);
  }

  /** @param {{ff: string, backprop: string} | null} guesses  one character per strip digit */
  show(guesses) {
    this.items.forEach(({ digit, button, ff, bp }, i) => {
      const f = guesses ? guesses.ff[i] : null;
      const b = guesses ? guesses.backprop[i] : null;
      const mark = (guess) => (guess === null ? "–" : `${guess}${Number(guess) === digit.label ? "" : " ✗"}`);
      ff.textContent = `FF ${mark(f)}`;
      bp.textContent = `BP ${mark(b)}`;
      ff.classList.toggle("wrong", f !== null && Number(f) !== digit.label);
      bp.classList.toggle("wrong", b !== null && Number(b) !== digit.label);
      const said = (name, guess) => (guess === null ? `${name} has not guessed yet`
        : `${name} guesses ${guess}${Number(guess) === digit.label ? ", right" : ", wrong"}`);
      button.setAttribute("aria-label", `Held-out digit: a handwritten ${digit.label}. ${said("FF", f)}; `
        + `${said("backprop", b)}. Read it below.`);
    });
  }

  select(index) {
    for (const { digit, button } of this.items) button.setAttribute("aria-pressed", String(digit.index === index));
  }
}

/** FF's mean goodness per layer, positive and negative, as bars on one scale with θ marked. */
export function renderGoodness(tbody, goodness, theta) {
  const scale = Math.max(theta * 2, ...goodness.positive, ...goodness.negative);
  const cell = (value, kind) => {
    const td = document.createElement("td");
    const track = document.createElement("span");
    track.className = `bar bar-${kind}`;
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.width = `${Math.min(1, value / scale) * 100}%`;
    const mark = document.createElement("span");
    mark.className = "bar-theta";
    mark.style.left = `${(theta / scale) * 100}%`;
    track.append(fill, mark);
    const number = document.createElement("span");
    number.className = "bar-value";
    number.textContent = value.toFixed(1);
    td.append(track, number);
    return td;
  };
  tbody.replaceChildren(...goodness.positive.map((positive, i) => {
    const row = document.createElement("tr");
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = String(i + 1);
    row.append(head, cell(positive, "positive"), cell(goodness.negative[i], "negative"));
    return row;
  }));
}
