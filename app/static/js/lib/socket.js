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

/** @typedef {import("./messages.js").ServerMessage} ServerMessage */
/** @typedef {import("./messages.js").ClientMessage} ClientMessage */
/**
 * @typedef {object} SocketStatus
 * @property {"connecting" | "open" | "reconnecting" | "reconnected" | "closed"} state
 * @property {number} [attempt]
 * @property {number} [delay]
 * @property {number} [code]
 * @property {string} [reason]
 * @property {true} [restart]   the server said 1012 (service restart): reconnecting at once, not an error
 */
/**
 * @typedef {object} ConnectOptions
 * @property {(message: ServerMessage) => void} [onMessage]
 * @property {(status: SocketStatus) => void} [onStatus]
 * @property {(info: {reconnected: boolean}) => void} [onOpen]
 * @property {(code: number) => boolean} [shouldRetry]
 * @property {number} [baseDelay]
 * @property {number} [maxDelay]
 * @property {number} [factor]
 * @property {string | string[]} [protocols]   websocket subprotocols to offer
 * @property {() => ({decode: (data: ArrayBuffer) => Promise<any>}) | null} [binaryDecoder]  a fresh decoder per connection
 */

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
 * protocols             websocket subprotocols to offer (optional).
 * binaryDecoder()       a new decoder for each connection, {decode(ArrayBuffer): Promise<message>},
 *                       for binary messages (the race's frames, widgets/race/wire.js). Messages reach
 *                       onMessage in the order they arrived, decoded or not; a binary message that
 *                       cannot be decoded drops the connection (code 4002), so it heals by reconnecting.
 *
 * Returns {send, close, drop, reconnect, get connected}.
 *
 * @param {string} path
 * @param {ConnectOptions} [options]
 */
export function connect(path, {
  onMessage, onStatus = () => {}, onOpen = () => {}, shouldRetry = () => true,
  protocols = undefined, binaryDecoder = undefined, ...options
} = {}) {
  const config = { ...DEFAULTS, ...options };
  /** @type {WebSocket | null} */
  let socket = null;
  let attempt = 0;
  let everOpened = false;
  let closedByUs = false;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let retryTimer = null;
  let restarting = false;   // reconnecting after the server said 1012
  let quickRetries = 0;     // immediate reconnects since the last message (a 1012 loop backs off)

  function open() {
    clearTimeout(retryTimer ?? undefined);
    retryTimer = null;
    onStatus({ state: everOpened ? "reconnecting" : "connecting", attempt, restart: restarting || undefined });
    let ws;
    try {
      ws = protocols ? new WebSocket(socketUrl(path), protocols) : new WebSocket(socketUrl(path));
    } catch (error) {
      scheduleRetry({ code: 0, reason: String(error) });
      return;
    }
    socket = ws;
    ws.binaryType = "arraybuffer";
    const decoder = binaryDecoder?.() ?? null;
    /** @type {Promise<unknown>} */
    let inbox = Promise.resolve(); // decoding may wait: this chain keeps messages in arrival order
    let undecodable = false;
    // A failing handler must not stop the chain (nor hide its error): report it as an event
    // handler's error would be, and go on with the next message.
    const later = (step) => { inbox = inbox.then(step).catch((error) => setTimeout(() => { throw error; })); };
    const deliver = (message) => {
      if (socket === ws && !undecodable) onMessage?.(message);
    };
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
      const { data } = event;
      if (typeof data === "string") {
        let message;
        try {
          message = JSON.parse(data);
        } catch {
          return; // the server's text messages are JSON; anything else is not ours to interpret
        }
        later(() => deliver(message));
        return;
      }
      if (!decoder) return; // binary messages are only sent to a client that asked for them
      later(async () => {
        let message;
        try {
          message = await decoder.decode(data);
        } catch (error) {
          if (undecodable) return;
          undecodable = true;
          console.warn("Dropping the connection after a message that could not be decoded:", error);
          ws.close(4002, "undecodable message");
          return;
        }
        deliver(message);
      });
    });
    // Through the inbox too: a message that arrived before the close (an `idle` error that decides
    // shouldRetry) is handled before it, even while an earlier frame is still being decoded.
    ws.addEventListener("close", (event) => later(() => closed(event)));
    function closed(event) {
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
    }
    // "error" is always followed by "close", which is where recovery happens.
  }

  /** @param {{code: number, reason: string}} closed */
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
    /** Send a message; false when the socket is not open (the caller resyncs in onOpen).
     *  @param {ClientMessage | import("./messages.js").DigitsClientMessage} message */
    send(message) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(message));
      return true;
    },
    /** Close for good: no reconnection. */
    close() {
      closedByUs = true;
      clearTimeout(retryTimer ?? undefined);
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
