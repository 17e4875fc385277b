import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { systemText } from "../../static/kefu/shared/system-text.js";

const catalogue = JSON.parse(readFileSync(new URL("../../static/kefu/shared/system-texts.json", import.meta.url), "utf8"));
const lookup = (lang) => (code) => catalogue[lang][code] ?? null;
const at = (iso) => `<${iso}>`;

test("an event line in each reader's language", () => {
  const meta = { code: "assigned", params: { agent: "Alice" } };
  assert.equal(systemText(meta, lookup("en"), at), "Alice joined the conversation.");
  assert.equal(systemText(meta, lookup("zh-hans"), at), "Alice 已加入会话。");
});

test("a parameter that is a code is translated too, a moment is formatted", () => {
  const note = { code: "handoff_note", params: { reason: { code: "reason_unsure" }, summary: "• where is it" } };
  assert.equal(systemText(note, lookup("zh-hans"), at), "机器人转人工：机器人连续两次无法回答。\n• where is it");
  const away = { code: "nobody_online_until", params: { back_at: { time: "2026-12-07T09:00:00+08:00" } } };
  assert.match(systemText(away, lookup("en"), at), /we are back <2026-12-07T09:00:00\+08:00>\./);
});

test("no code, an unknown code or a missing parameter never invents text", () => {
  assert.equal(systemText(undefined, lookup("en"), at), null);
  assert.equal(systemText({ event: "closed" }, lookup("en"), at), null);
  assert.equal(systemText({ code: "no_such_code" }, lookup("en"), at), null);
  assert.equal(systemText({ code: "assigned", params: {} }, lookup("en"), at), "{agent} joined the conversation.");
});

test("every code exists in both languages with the same placeholders", () => {
  const codes = Object.keys(catalogue.en).sort();
  assert.deepEqual(Object.keys(catalogue["zh-hans"]).sort(), codes);
  for (const code of codes) {
    const names = (s) => (s.match(/\{\w+\}/g) || []).sort();
    assert.deepEqual(names(catalogue["zh-hans"][code]), names(catalogue.en[code]), code);
  }
});
