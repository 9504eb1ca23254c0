// Number formatting and JSON requests shared by the widgets.

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

/** GET or POST JSON; throws an Error whose message is fit to show the reader.
 *  @param {string} url
 *  @param {{body?: unknown, signal?: AbortSignal}} [options] */
export async function requestJSON(url, { body, signal } = {}) {
  /** @type {RequestInit} */
  const init = body === undefined
    ? { signal, headers: { Accept: "application/json" } }
    : { method: "POST", signal, body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "application/json" } };
  const response = await fetch(url, init);
  let payload = null;
  try { payload = await response.json(); } catch { /* a non-JSON error page */ }
  if (!response.ok) {
    const detail = payload && (payload.message || payload.detail || payload.error);
    const text = typeof detail === "string" ? detail : `the server answered ${response.status}`;
    throw new Error(text);
  }
  return payload;
}
