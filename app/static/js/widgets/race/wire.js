// Binary race frames (docs/protocol.md, "Binary frames"; the server's side is app/web/wire.py): a
// client that opens /ws/race with the subprotocol below receives each `frame` as one binary message,
// its maps as raw bytes and, most of the time, as a difference from the frame before it, zlib-
// compressed. Decoding gives back exactly the frame object the JSON protocol would have sent.

export const SUBPROTOCOL = "ff-race-delta.1";
const KEY = 1;
const DELTA = 2;
const HEADER_BYTES = 9;

/**
 * A `frame` message as the JSON protocol sends it (docs/protocol.md, "frame").
 * @typedef {{train_accuracy: number, test_accuracy: number, loss: number}} NetMetrics
 * @typedef {{
 *   type: "frame", step: number, steps: number,
 *   ff: NetMetrics & {layer_test_accuracy: number[]}, backprop: NetMetrics,
 *   goodness: {positive: number[], negative: number[]},
 *   grid: {size: number, ff: string, backprop: string},
 *   layers?: {size: number, scale: number, goodness: string[][]},
 * }} FrameMessage
 */

/**
 * A binary frame: the header, then zlib of (skeleton length, skeleton, maps).
 * @typedef {{kind: 1 | 2, step: number, base: number, body: Uint8Array}} BinaryFrame
 */

/** Binary frames need the browser's DecompressionStream (zlib); without it the page asks for JSON. */
export function binaryFramesSupported() {
  return typeof DecompressionStream === "function" && typeof Response === "function";
}

/** @param {Uint8Array} bytes @returns {Promise<Uint8Array>} */
async function inflate(bytes) {
  const stream = new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** @param {Uint8Array} bytes @returns {string} standard base64, padded (as Python's b64encode) */
function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x2000) text += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  return btoa(text);
}

/** Every map's place in a frame, in wire order: grid.ff, grid.backprop, layers.goodness[layer][label].
 *  @param {any} frame @returns {Array<[any, string | number]>} */
function mapSlots(frame) {
  /** @type {Array<[any, string | number]>} */
  const slots = [];
  const grid = frame.grid;
  if (grid && typeof grid === "object") {
    for (const key of ["ff", "backprop"]) if (key in grid) slots.push([grid, key]);
  }
  const goodness = frame.layers?.goodness;
  if (Array.isArray(goodness)) {
    for (const row of goodness) for (let label = 0; label < row.length; label += 1) slots.push([row, label]);
  }
  return slots;
}

export class WireError extends Error {}

/** One connection's decoder: binary frames, in order of arrival, to frame objects. */
export class FrameDecoder {
  constructor() {
    /** @type {number | null} */
    this.step = null;          // the last frame decoded (a delta's base must be it)
    /** @type {Uint8Array} */
    this.maps = new Uint8Array(0);
  }

  /** @param {ArrayBuffer} buffer @returns {Promise<FrameMessage>} */
  async decode(buffer) {
    if (buffer.byteLength < HEADER_BYTES) throw new WireError("a binary frame shorter than its header");
    const header = new DataView(buffer, 0, HEADER_BYTES);
    const kind = header.getUint8(0);
    const step = header.getUint32(1);
    const base = header.getUint32(5);
    if (kind !== KEY && kind !== DELTA) throw new WireError(`unknown binary frame kind ${kind}`);
    const body = await inflate(new Uint8Array(buffer, HEADER_BYTES));
    const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
    const skeleton = JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + length)));
    const maps = body.slice(4 + length);
    if (kind === DELTA) {
      if (this.step !== base || this.maps.length !== maps.length) {
        throw new WireError(`a delta from step ${base}, but the last frame decoded is ${this.step}`);
      }
      for (let i = 0; i < maps.length; i += 1) maps[i] = (maps[i] + this.maps[i]) & 0xff;
    }
    let offset = 0;
    for (const [container, key] of mapSlots(skeleton)) {
      const size = container[key];
      if (!Number.isInteger(size) || size < 0 || offset + size > maps.length) {
        throw new WireError("a map's length does not fit the maps sent");
      }
      container[key] = base64(maps.subarray(offset, offset + size));
      offset += size;
    }
    if (offset !== maps.length) throw new WireError("map bytes left over");
    this.step = step;
    this.maps = maps;
    return /** @type {FrameMessage} */ (skeleton);
  }
}
