// Number formatting shared by the widgets: every number the page prints goes through here.

const integer = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });

export function formatBytes(bytes) {
  return `${integer.format(bytes)} bytes`;
}

/** `digits` decimals, a dash for a missing number, and never the "-0.00" that rounding a tiny
 *  negative number produces. */
export function fixed(/** @type {number} */ value, digits = 3) {
  if (!Number.isFinite(value)) return "–";
  const text = value.toFixed(digits);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/** A fraction as a percentage with one decimal: 0.953 -> "95.3%". */
export const percent = (value) => `${fixed(value * 100, 1)}%`;
