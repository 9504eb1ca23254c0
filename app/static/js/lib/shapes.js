// Marker shapes, so that every colour-coded mark in the figures is also told apart by its form
// (colour-blind readers and greyscale print).

export function star(context, x, y, radius, fill, stroke) {
  context.beginPath();
  for (let i = 0; i < 10; i += 1) {
    const r = i % 2 === 0 ? radius : radius * 0.45;
    const angle = -Math.PI / 2 + (i * Math.PI) / 5;
    context.lineTo(x + r * Math.cos(angle), y + r * Math.sin(angle));
  }
  context.closePath();
  context.fillStyle = fill;
  context.fill();
  context.lineWidth = 1.2;
  context.strokeStyle = stroke;
  context.stroke();
}

export function square(context, x, y, half, fill, stroke) {
  context.fillStyle = fill;
  context.fillRect(x - half, y - half, 2 * half, 2 * half);
  if (stroke) {
    context.lineWidth = 1;
    context.strokeStyle = stroke;
    context.strokeRect(x - half, y - half, 2 * half, 2 * half);
  }
}

export function dot(context, x, y, radius, fill, stroke) {
  context.beginPath();
  context.arc(x, y, radius, 0, 2 * Math.PI);
  context.fillStyle = fill;
  context.fill();
  if (stroke) {
    context.lineWidth = 1.5;
    context.strokeStyle = stroke;
    context.stroke();
  }
}

/** @param {string | null} [fill] */
export function diamond(context, x, y, radius, stroke, fill = null) {
  context.beginPath();
  context.moveTo(x, y - radius);
  context.lineTo(x + radius, y);
  context.lineTo(x, y + radius);
  context.lineTo(x - radius, y);
  context.closePath();
  if (fill) {
    context.fillStyle = fill;
    context.fill();
  }
  context.lineWidth = 2.5;
  context.strokeStyle = stroke;
  context.stroke();
}

/** An arrow from (x0, y0) to (x1, y1) with a filled head. */
export function arrow(context, x0, y0, x1, y1, color, { width = 2, dashed = false, head = 7 } = {}) {
  const angle = Math.atan2(y1 - y0, x1 - x0);
  context.save();
  context.strokeStyle = color;
  context.fillStyle = color;
  context.lineWidth = width;
  context.setLineDash(dashed ? [5, 4] : []);
  context.beginPath();
  context.moveTo(x0, y0);
  context.lineTo(x1 - head * Math.cos(angle), y1 - head * Math.sin(angle));
  context.stroke();
  context.setLineDash([]);
  context.beginPath();
  context.moveTo(x1, y1);
  context.lineTo(x1 - head * Math.cos(angle - 0.45), y1 - head * Math.sin(angle - 0.45));
  context.lineTo(x1 - head * Math.cos(angle + 0.45), y1 - head * Math.sin(angle + 0.45));
  context.closePath();
  context.fill();
  context.restore();
}
