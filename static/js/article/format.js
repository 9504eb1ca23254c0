// Small shared helpers for the article's widgets: number formatting and JSON requests.

const integer = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });

export function formatBytes(bytes) {
  return `${integer.format(bytes)} bytes`;
}

export function fixed(value, digits = 3) {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}

/** GET or POST JSON; throws an Error whose message is fit to show the reader. */
export async function requestJSON(url, { body, signal } = {}) {
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
