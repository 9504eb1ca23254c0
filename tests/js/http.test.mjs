// requestJSON (app/static/js/lib/http.js): a busy server (429) is asked once more after the wait
// it names; errors reach the reader as the server's sentence.
import { test } from "node:test";
import assert from "node:assert/strict";

import { requestJSON } from "../../app/static/js/lib/http.js";

function reply(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

test("a 429 is retried once after Retry-After", async () => {
  const calls = [];
  globalThis.fetch = async (url) => {
    calls.push(performance.now());
    return calls.length === 1 ? reply(429, { detail: "busy" }, { "Retry-After": "1" }) : reply(200, { ok: true });
  };
  assert.deepEqual(await requestJSON("/api/goodness", { body: {} }), { ok: true });
  assert.equal(calls.length, 2);
  assert.ok(calls[1] - calls[0] >= 1000, `retried after ${calls[1] - calls[0]} ms`);
});

test("a second 429 is the reader's error, in the server's words", async () => {
  let count = 0;
  globalThis.fetch = async () => { count += 1; return reply(429, { detail: "busy: try again in a moment." }, { "Retry-After": "1" }); };
  await assert.rejects(requestJSON("/api/digits/infer", { body: {} }), /busy: try again in a moment\./);
  assert.equal(count, 2);
});

test("other errors are not retried", async () => {
  let count = 0;
  globalThis.fetch = async () => { count += 1; return reply(422, { detail: "The drawing is empty: draw a digit first." }); };
  await assert.rejects(requestJSON("/api/digits/infer", { body: {} }), /drawing is empty/);
  assert.equal(count, 1);
});
