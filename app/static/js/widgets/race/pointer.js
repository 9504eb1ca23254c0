// Choosing a point on a field canvas: a click or tap, or, for keyboard readers, a crosshair
// moved with the arrow keys (Shift for bigger moves, Home to centre) and chosen with Enter/Space.

const FINE = 1 / 40;    // of the extent's width per arrow press: about a data point's spacing
const COARSE = 1 / 8;

/**
 * canvas, view (FieldView), choose(x, y) called with data coordinates, redraw() after the
 * crosshair moves, keyboard: whether this canvas also takes arrow keys.
 */
export function attachPointer(canvas, view, { choose, redraw, keyboard = false }) {
  canvas.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    const point = view.toData(event.clientX - box.left, event.clientY - box.top);
    if (!point) return;
    if (view.crosshair) view.crosshair = { ...point }; // keep keyboard and mouse in step
    choose(point.x, point.y);
  });
  if (!keyboard) return;

  const centre = () => {
    const [xmin, xmax, ymin, ymax] = view.extent;
    return { x: (xmin + xmax) / 2, y: (ymin + ymax) / 2 };
  };

  canvas.addEventListener("focus", () => {
    // A click focuses the canvas too; the crosshair is only for focus that came from the keyboard.
    if (!view.extent || !canvas.matches(":focus-visible")) return;
    // Start where the reader last looked, so Tab away and back doesn't lose the place.
    view.crosshair = view.marker ? { x: view.marker.x, y: view.marker.y } : centre();
    redraw();
  });
  canvas.addEventListener("blur", () => {
    view.crosshair = null;
    redraw();
  });

  canvas.addEventListener("keydown", (event) => {
    if (!view.extent) return;
    const [xmin, xmax, ymin, ymax] = view.extent;
    if (!view.crosshair) view.crosshair = centre();
    const fraction = event.shiftKey ? COARSE : FINE;
    const dx = (xmax - xmin) * fraction;
    const dy = (ymax - ymin) * fraction;
    const { x, y } = view.crosshair;
    const moves = {
      ArrowLeft: [x - dx, y], ArrowRight: [x + dx, y],
      ArrowUp: [x, y + dy], ArrowDown: [x, y - dy],
    };
    if (event.key in moves) {
      const [nx, ny] = moves[event.key];
      view.crosshair = { x: clamp(nx, xmin, xmax), y: clamp(ny, ymin, ymax) };
    } else if (event.key === "Home") {
      view.crosshair = centre();
    } else if (event.key === "Enter" || event.key === " ") {
      choose(view.crosshair.x, view.crosshair.y);
    } else {
      return; // Tab and everything else keep their usual meaning
    }
    event.preventDefault(); // arrows and Space would otherwise scroll the page
    redraw();
  });
}

function clamp(value, lo, hi) {
  return Math.min(hi, Math.max(lo, value));
}
