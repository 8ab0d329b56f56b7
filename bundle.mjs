#!/usr/bin/env node
// The shipped build's second step (`npm run build`): tsc has compiled src/ to dist/ (a module per
// source file, which tests and benches import); this bundles the CLI and worker entries
// (dist/entry/) into dist/bundle/, which bin/outrigger.js runs. Node then loads a few chunks instead
// of ~215 modules: an idle sidecar is 7.8 MiB smaller (the module records, and the optimizing
// compilers' code, which resolving that many module paths got V8 to run). Packages stay in
// node_modules (loaded as they are, some only on first use); a dynamic import of our own code
// becomes a chunk of its own, loaded when it is imported.
import { build } from 'rolldown';

await build({
  input: { main: 'dist/entry/main.js', worker: 'dist/entry/worker.js' },
  platform: 'node',
  // bare specifiers: node builtins and packages
  external: (id) => !id.startsWith('.') && !id.startsWith('/'),
  logLevel: 'warn',
  output: { dir: 'dist/bundle', format: 'esm', cleanDir: true },
});
