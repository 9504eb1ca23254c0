// The one websocket client the widgets share: JSON messages in and out, and a connection that
// heals itself (exponential backoff with full jitter) while telling the page what it is doing.
// A close with 1012 (service restart: the server is draining before a restart or a rolling update)
// is not a fault: the client reconnects at once, and the load balancer sends it to a replica that
// is up.

/** RFC 6455 close code "Service Restart": reconnect now, to whichever server answers. */
export const SERVICE_RESTART = 1012;

const DEFAULTS = {
  baseDelay: 500,      // first retry after at most half a second: most drops are blips
  maxDelay: 15000,     // never make a reader wait longer than this between attempts
  factor: 2,
};

/** Absolute ws:// or wss:// URL for a path on the server that served the page. */
export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

/** Backoff delay for retry number `attempt` (0-based). Full jitter spreads a classroom's worth
 *  of reconnects after a server restart instead of having them all arrive in the same instant. */
export function backoffDelay(attempt, { baseDelay, maxDelay, factor } = DEFAULTS) {
  const ceiling = Math.min(maxDelay, baseDelay * factor ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * Open a self-reconnecting JSON socket.
 *
 * onMessage(message)    each parsed server message.
 * onStatus(status)      {state, attempt?, delay?, code?, reason?, restart?} where state is one of
 *                       "connecting", "open", "reconnecting", "reconnected", "closed";
 *                       restart: true while reconnecting after a server restart (1012).
 * onOpen({reconnected}) after every successful (re)connection, so the caller can resync.
 * shouldRetry(code)     false to stay closed after this close code (e.g. the server's idle
 *                       timeout: reconnecting at once would defeat it); reconnect() reopens.
 *
 * Returns {send, close, drop, reconnect, get connected}.
 */
export function connect(path, {
  onMessage, onStatus = () => {}, onOpen = () => {}, shouldRetry = () => true, ...options
} = {}) {
  const config = { ...DEFAULTS, ...options };
  let socket = null;
  let attempt = 0;
  let everOpened = false;
  let closedByUs = false;
  let retryTimer = null;
  let restarting = false;   // reconnecting after the server said 1012
  let quickRetries = 0;     // immediate reconnects since the last message (a 1012 loop backs off)

  function open() {
    clearTimeout(retryTimer);
    retryTimer = null;
    onStatus({ state: everOpened ? "reconnecting" : "connecting", attempt, restart: restarting || undefined });
    let ws;
    try {
      ws = new WebSocket(socketUrl(path));
    } catch (error) {
      scheduleRetry({ code: 0, reason: String(error) });
      return;
    }
    socket = ws;
    ws.addEventListener("open", () => {
      const reconnected = everOpened;
      everOpened = true;
      attempt = 0;
      onStatus({ state: reconnected ? "reconnected" : "open", restart: (reconnected && restarting) || undefined });
      restarting = false;
      onOpen({ reconnected });
    });
    ws.addEventListener("message", (event) => {
      quickRetries = 0;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // the server only sends JSON; anything else is not ours to interpret
      }
      onMessage?.(message);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return; // a socket we already replaced
      socket = null;
      if (closedByUs || !shouldRetry(event.code)) {
        onStatus({ state: "closed", code: event.code, reason: event.reason });
        return;
      }
      if (event.code === SERVICE_RESTART && quickRetries < 1) {
        // The server is going away on purpose and the others are up: no backoff.
        quickRetries += 1;
        restarting = true;
        open();
        return;
      }
      scheduleRetry({ code: event.code, reason: event.reason });
    });
    // "error" is always followed by "close", which is where recovery happens.
  }

  function scheduleRetry({ code, reason }) {
    const delay = backoffDelay(attempt, config);
    attempt += 1;
    onStatus({ state: "reconnecting", attempt, delay, code, reason, restart: restarting || undefined });
    retryTimer = setTimeout(open, delay);
  }

  // Coming back online or to the tab is a strong hint the next attempt will work: skip the wait.
  function retryNow() {
    if (retryTimer !== null && !closedByUs) open();
  }
  function onVisible() {
    if (document.visibilityState === "visible") retryNow();
  }
  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", onVisible);

  open();

  return {
    /** Send a message; false when the socket is not open (the caller resyncs in onOpen). */
    send(message) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(message));
      return true;
    },
    /** Close for good: no reconnection. */
    close() {
      closedByUs = true;
      clearTimeout(retryTimer);
      window.removeEventListener("online", retryNow);
      document.removeEventListener("visibilitychange", onVisible);
      socket?.close(1000, "closed by the page");
    },
    /** Open again after a close that shouldRetry declined (no-op while open or retrying). */
    reconnect() {
      if (closedByUs || socket || retryTimer !== null) return;
      attempt = 0;
      open();
    },
    /** Close this connection as if the network dropped it; the client then reconnects.
     *  Used by the browser tests and handy from the console when trying the recovery path. */
    drop() {
      socket?.close(4000, "dropped on purpose");
    },
    get connected() {
      return socket?.readyState === WebSocket.OPEN;
    },
  };
}
