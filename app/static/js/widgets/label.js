// The label-in-the-input figure: a real MNIST digit with a one-hot label written into its first
// 10 pixels, shown with its true label (a positive example) and with a wrong one (a negative).
// Each canvas is 28x28 backing pixels, scaled up by CSS, so what is drawn is exactly the input.
import { requestJSON } from "../lib/http.js";

/** The image with `label` written one-hot into its first `count` pixels (0 or 255). */
export function withLabel(pixels, label, count = 10) {
  const out = pixels.slice();
  for (let i = 0; i < count; i += 1) out[i] = i === label ? 255 : 0;
  return out;
}

function paint(canvas, pixels, width, height) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  // Ink dark on paper, as printed digits look; the value is the pen's intensity.
  pixels.forEach((value, i) => {
    const shade = 255 - value;
    image.data.set([shade, shade, shade, 255], i * 4);
  });
  context.putImageData(image, 0, 0);
}

export function mount(root) {
  const digitSelect = root.querySelector('[data-control="digit"]');
  const radios = [...root.querySelectorAll('input[name="negative-label"]')];
  const positiveCanvas = root.querySelector(".digit-positive");
  const negativeCanvas = root.querySelector(".digit-negative");
  const positiveText = root.querySelector("#label-text-positive");
  const negativeText = root.querySelector("#label-text-negative");
  let data = null;

  function chosenWrongLabel(trueLabel) {
    // The true label can't make a negative example: it is disabled, and skipped if it was chosen.
    radios.forEach((radio) => { radio.disabled = Number(radio.value) === trueLabel; });
    let checked = radios.find((radio) => radio.checked);
    if (!checked || Number(checked.value) === trueLabel) {
      checked = radios[(trueLabel + 1) % radios.length];
      checked.checked = true;
    }
    return Number(checked.value);
  }

  function render() {
    const digit = data.digits.find((entry) => entry.label === Number(digitSelect.value)) || data.digits[0];
    const trueLabel = digit.label;
    const wrongLabel = chosenWrongLabel(trueLabel);
    const count = data.label_pixels;
    paint(positiveCanvas, withLabel(digit.pixels, trueLabel, count), data.width, data.height);
    paint(negativeCanvas, withLabel(digit.pixels, wrongLabel, count), data.width, data.height);
    positiveText.textContent = `a handwritten ${trueLabel}, labelled “${trueLabel}”: pixel ${trueLabel} `
      + "of the top row is lit, so training pushes goodness up.";
    negativeText.textContent = `the same ${trueLabel}, labelled “${wrongLabel}”: pixel ${wrongLabel} `
      + "is lit instead, so training pushes goodness down.";
    for (const [canvas, label] of [[positiveCanvas, trueLabel], [negativeCanvas, wrongLabel]]) {
      const strip = canvas.closest(".label-pane").querySelectorAll(".label-strip li");
      strip.forEach((cell, i) => cell.classList.toggle("lit", i === label));
    }
    Object.assign(root.dataset, {
      digit: String(trueLabel), positiveLabel: String(trueLabel), negativeLabel: String(wrongLabel),
    });
  }

  digitSelect.addEventListener("change", () => data && render());
  radios.forEach((radio) => radio.addEventListener("change", () => data && render()));

  requestJSON(root.dataset.src)
    .then((json) => {
      data = json;
      render();
      root.dataset.loaded = "true";
    })
    .catch((error) => {
      positiveText.textContent = `The digits could not be loaded: ${error.message}. Reload the page to try again.`;
      // Controls that could do nothing are switched off, so nobody presses them in vain.
      digitSelect.disabled = true;
      radios.forEach((radio) => { radio.disabled = true; });
      root.dataset.loaded = "error";
    });
  return {};
}
