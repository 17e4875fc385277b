// The committed widget bundle is exactly what the sources build to: a change to
// static/kefu/widget/src or static/kefu/shared without `npm run build` fails here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as esbuild from "esbuild";

import { options } from "../../esbuild.config.mjs";

test("the committed widget bundle is up to date (run `npm run build`)", async () => {
  const result = await esbuild.build({ ...options, write: false });
  assert.equal(result.outputFiles.length, 1);
  const committed = readFileSync(new URL("../../" + options.outfile, import.meta.url), "utf8");
  assert.ok(committed === result.outputFiles[0].text, "static/kefu/build/widget.js is stale: run `npm run build`");
});
