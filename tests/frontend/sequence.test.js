import assert from "node:assert/strict";
import { test } from "node:test";

import { SequenceTracker } from "../../static/kefu/widget/src/sequence.js";

test("last advances only over consecutive numbers", () => {
  const seq = new SequenceTracker();
  seq.reset(7);
  assert.equal(seq.see(1), true);
  assert.equal(seq.see(3), true);
  assert.equal(seq.last, 1);
  assert.equal(seq.isAhead(3), true);
  assert.equal(seq.see(2), true);
  assert.equal(seq.last, 3);
  assert.equal(seq.isAhead(4), false);
});

test("a number seen twice, or below last, is not new", () => {
  const seq = new SequenceTracker();
  seq.reset(1);
  seq.see(1);
  seq.see(2);
  assert.equal(seq.see(2), false);
  assert.equal(seq.see(1), false);
  seq.see(5);
  assert.equal(seq.see(5), false);
  assert.equal(seq.last, 2);
});

test("coverUpTo closes a hole the server says will never be filled", () => {
  const seq = new SequenceTracker();
  seq.reset(1);
  seq.see(1);
  seq.see(3); // 2 is an internal note the visitor never gets
  assert.equal(seq.last, 1);
  seq.coverUpTo(3);
  assert.equal(seq.last, 3);
  seq.see(5);
  seq.coverUpTo(4);
  assert.equal(seq.last, 5, "a later number seen earlier counts once the hole closes");
  seq.coverUpTo(2);
  assert.equal(seq.last, 5, "never goes back");
});

test("reset starts a new conversation from zero", () => {
  const seq = new SequenceTracker();
  seq.reset(1);
  seq.see(1);
  seq.see(3);
  seq.reset(2);
  assert.equal(seq.last, 0);
  assert.equal(seq.conversationId, 2);
  assert.equal(seq.see(3), true);
  assert.equal(seq.last, 0);
});
