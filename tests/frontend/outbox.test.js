import assert from "node:assert/strict";
import { test } from "node:test";

import { Outbox } from "../../static/kefu/widget/src/outbox.js";

// The widget's store is JSON in localStorage; this one keeps the JSON to prove the
// outbox survives a "reload" (a new Outbox over the same storage).
function memoryStore() {
  const data = new Map();
  return {
    data,
    get(key, fallback) { return data.has(key) ? JSON.parse(data.get(key)) : fallback; },
    set(key, value) { data.set(key, JSON.stringify(value)); },
  };
}

test("items are kept in order and survive a reload", () => {
  const store = memoryStore();
  const box = new Outbox(store);
  box.add({ client_msg_id: "a", kind: "text", body: "first" });
  box.add({ client_msg_id: "b", kind: "text", body: "second" });
  const again = new Outbox(store);
  assert.deepEqual(again.items().map((x) => x.body), ["first", "second"]);
});

test("the same client_msg_id is kept once", () => {
  const box = new Outbox(memoryStore());
  assert.equal(box.add({ client_msg_id: "a", body: "x" }), true);
  assert.equal(box.add({ client_msg_id: "a", body: "x again" }), false);
  assert.deepEqual(box.items(), [{ client_msg_id: "a", body: "x" }]);
});

test("drop removes only the acknowledged item", () => {
  const box = new Outbox(memoryStore());
  box.add({ client_msg_id: "a" });
  box.add({ client_msg_id: "b" });
  box.drop("a");
  box.drop("unknown");
  assert.deepEqual(box.items().map((x) => x.client_msg_id), ["b"]);
});

test("garbage in storage reads as empty", () => {
  const store = memoryStore();
  store.set("outbox", { not: "a list" });
  assert.deepEqual(new Outbox(store).items(), []);
});
