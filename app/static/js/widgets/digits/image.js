// 28x28 digit images: base64 of 784 uint8 (0 = background, 255 = ink) painted ink-dark on paper.

/** @param {string} base64 @returns {Uint8Array} */
export function decodeImage(base64) {
  const text = atob(base64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) out[i] = text.charCodeAt(i);
  return out;
}

/** Paint 784 pixels into a canvas whose backing store is 28x28 (CSS scales it up, pixelated). */
export function paintDigit(canvas, pixels, side = 28) {
  canvas.width = side;
  canvas.height = side;
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  for (let i = 0; i < side * side; i += 1) {
    const shade = 255 - (pixels[i] ?? 0);
    image.data.set([shade, shade, shade, 255], i * 4);
  }
  context.putImageData(image, 0, 0);
}

/** How much ink, and where: a short description of an image for screen readers. */
export function describeImage(pixels, side = 28) {
  let ink = 0;
  let top = side;
  let bottom = -1;
  let left = side;
  let right = -1;
  for (let i = 0; i < side * side; i += 1) {
    if (pixels[i] < 64) continue;
    ink += 1;
    const row = Math.floor(i / side);
    const col = i % side;
    top = Math.min(top, row);
    bottom = Math.max(bottom, row);
    left = Math.min(left, col);
    right = Math.max(right, col);
  }
  if (!ink) return "An empty 28 by 28 image.";
  return `A 28 by 28 image with ${ink} inked pixels, the digit filling rows ${top + 1} to ${bottom + 1} `
    + `and columns ${left + 1} to ${right + 1}, centred as MNIST's digits are.`;
}
