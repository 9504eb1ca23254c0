// JSON over HTTP for the widgets: one request helper whose errors are sentences fit for the reader.

/** GET or POST JSON; throws an Error whose message is fit to show the reader.
 *  @param {string} url
 *  @param {{body?: unknown, signal?: AbortSignal}} [options] */
export async function requestJSON(url, { body, signal } = {}) {
  /** @type {RequestInit} */
  const init = body === undefined
    ? { signal, headers: { Accept: "application/json" } }
    : { method: "POST", signal, body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "application/json" } };
  let response = await fetch(url, init);
  if (response.status === 429) {
    // Busy (a classroom behind one address shares its budget): wait as the server asks, a little
    // jittered so a class does not retry in step, and try once more.
    const seconds = Math.min(5, Math.max(1, Number(response.headers.get("Retry-After")) || 1));
    await new Promise((resolve) => setTimeout(resolve, (seconds + Math.random()) * 1000));
    signal?.throwIfAborted();
    response = await fetch(url, init);
  }
  let payload = null;
  try { payload = await response.json(); } catch { /* a non-JSON error page */ }
  if (!response.ok) {
    const detail = payload && (payload.message || payload.detail || payload.error);
    const text = typeof detail === "string" ? detail : `the server answered ${response.status}`;
    throw new Error(text);
  }
  return payload;
}
