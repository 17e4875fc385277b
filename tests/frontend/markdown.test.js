// The shared markdown renderer against the cases the browser tests also render in the
// widget and in the console (tests/browser/test_markdown.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { parseMarkdown, safeUrl, toHtml } from "../../static/kefu/shared/markdown.js";

const cases = JSON.parse(readFileSync(new URL("./markdown_cases.json", import.meta.url), "utf8"));

for (const c of cases) {
  test(`markdown: ${c.name}`, () => {
    assert.equal(toHtml(parseMarkdown(c.input)), c.html);
  });
}

test("only absolute http(s) URLs are safe", () => {
  assert.equal(safeUrl("https://a.example/x"), "https://a.example/x");
  assert.equal(safeUrl("HTTP://a.example"), "HTTP://a.example");
  for (const bad of ["javascript:alert(1)", "data:text/html,x", "//a.example", "/relative", "https://a b", "", null]) {
    assert.equal(safeUrl(bad), null, String(bad));
  }
});

test("long input without markup is linear, not backtracking", () => {
  const text = "*".repeat(5000) + "_".repeat(5000) + "`".repeat(5000);
  const html = toHtml(parseMarkdown(text));
  assert.ok(html.length >= 15000);
});
