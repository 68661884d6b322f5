#!/usr/bin/env node
// Runs the compiled CLI (dist/, written by `npm run build`; npm ci and npm pack run it through
// `prepare`). In a source checkout, where src/ sits beside dist/, a dist/ that is missing or older
// than any source file would run stale code: then the sources run through tsx (a devDependency, so
// only a checkout has it). An installed package has no src/ and never loads tsx.
import { existsSync, readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const compiled = new URL('dist/src/cli/main.js', root);
const sources = new URL('src/', root);

/** The newest modification time of any file under a folder, in ms. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(`${e.parentPath ?? e.path}/${e.name}`).mtimeMs);
  }
  return t;
}

const checkout = existsSync(sources);
if (!checkout || (existsSync(compiled) && statSync(compiled).mtimeMs >= newest(sources))) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('src/cli/main.ts', root).href);
}
