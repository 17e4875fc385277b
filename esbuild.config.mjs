// Builds the widget bundle: `npm run build` writes it, `npm test` checks that the
// committed file is what the sources build to (tests/frontend/build.test.js).
//
// The bundle is committed so that `make run`, the Docker image and every developer's
// checkout work without Node; only changing the widget's sources needs `npm ci` first.

import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const root = fileURLToPath(new URL(".", import.meta.url));

export const options = {
  absWorkingDir: root,
  entryPoints: ["static/kefu/widget/src/main.js"],
  outfile: "static/kefu/build/widget.js",
  bundle: true,
  minify: true,
  format: "iife",
  // What the widget may assume of a visitor's browser (ES2020: ?., ??); esbuild lowers the rest.
  target: ["es2020", "chrome80", "firefox78", "safari14.1"],
  charset: "utf8",
  legalComments: "none",
  banner: { js: "/* Kefu widget, built from static/kefu/widget/src by `npm run build`; do not edit. */" },
  logLevel: "warning",
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await esbuild.build(options);
}
