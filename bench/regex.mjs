#!/usr/bin/env node
// Per-match cost of the regex engines Outrigger could run config regexes on (`npm run bench:regex`).
//
// Engines: the project's choice (dist/common/regex.js: V8 RegExp for patterns proven linear, re2js
// otherwise), re2js alone, V8's backtracking RegExp alone (what Outrigger used before), and, when they
// can be loaded, re2-wasm (a transitive dependency of @grpc/grpc-js-xds) and the native `re2` addon.
// Each cell is the best of ROUNDS time-boxed loops (the rounds interleave the engines, and the best
// one is the least disturbed by other work on a shared machine); the pathological pattern runs on V8's
// backtracking engine only up to a bounded input length, and its 41-byte figure is extrapolated.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(path.join(ROOT, 'package.json'));
const { RE2JS } = await import('re2js');
const outrigger = await import(path.join(ROOT, 'dist/common/regex.js'));
const { linearJsRegExp } = await import(path.join(ROOT, 'dist/common/regex-fast-path.js'));
const optional = (name) => { try { return require(name); } catch { return undefined; } };
const wasm = optional('re2-wasm')?.RE2;
const native = optional('re2');

const BUDGET_MS = Number(process.env.BENCH_MS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** Mean ns per call of one loop: warm-up, then a loop bounded by BUDGET_MS and 10^7 calls. */
function nsPerCall(fn) {
  for (let i = 0; i < 1_000; i++) fn();
  let calls = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(BUDGET_MS) * 1_000_000n;
  let now = t0;
  while (now < end && calls < 10_000_000) {
    for (let i = 0; i < 100; i++) fn();
    calls += 100;
    now = process.hrtime.bigint();
  }
  return Number(now - t0) / calls;
}

const CASES = [
  ['route path', '/api/v[0-9]+/.*', '/api/v2/users/12345/orders/987'],
  ['header .*canary.* (miss, 40 B)', '.*canary.*', 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20'],
  ['header .*canary.* (hit, 40 B)', '.*canary.*', 'Mozilla/5.0 (X11; canary x86_64) Gecko/2'],
  ['header 40-char token', '[A-Za-z0-9_-]{8,64}', 'f3b2c1d0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4'],
  ['rbac principal', '.*/ns/default/.*', 'spiffe://cluster.local/ns/default/sa/productpage'],
  ['(a+)+b, 41 B', '(a+)+b', 'a'.repeat(40) + 'c'],
];

const engines = [
  ['outrigger', (p) => outrigger.compileRegex(p)],
  ['re2js', (p) => { const r = RE2JS.compile(p); return { test: (s) => r.testExact(s) }; }],
  ['V8 RegExp', (p) => new RegExp(`^(?:${p})$`, 'u')],
  ...(wasm ? [['re2-wasm', (p) => new wasm(`^(?:${p})$`, 'u')]] : []),
  ...(native ? [['re2 (native)', (p) => new native(`^(?:${p})$`, 'u')]] : []),
];

/** V8's backtracking time on (a+)+b: measured up to ~50 ms a call, then doubled per byte. */
function backtrackingEstimate(target) {
  const re = /^(?:(a+)+b)$/u;
  let n = 16;
  let ms = 0;
  for (; n < target && ms < 50; n++) {
    const s = 'a'.repeat(n - 1) + 'c';
    const t0 = performance.now();
    re.test(s);
    ms = performance.now() - t0;
  }
  return { measuredBytes: n - 1, measuredMs: ms, estimateMs: ms * 2 ** (target - (n - 1)) };
}

const fmt = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(1)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);

// compile every cell once; the pathological pattern on V8 is estimated apart
const cells = CASES.map(([, pattern, input]) =>
  engines.map(([engine, compile]) => {
    if (engine === 'V8 RegExp' && pattern === '(a+)+b') return { estimate: backtrackingEstimate(input.length) };
    const re = compile(pattern);
    return { run: () => re.test(input), best: Infinity };
  }),
);
const rw = outrigger.compileRegexRewrite('^/service/([^/]+)(/.*)$', '\\2/instance/\\1');
const extra = [
  ['regex_rewrite `^/service/([^/]+)(/.*)$` → `\\2/instance/\\1`, outrigger', () => rw('/service/foo/v1/api')],
  ['compile `.*canary.*` (config time), outrigger', () => outrigger.compileRegex('.*canary.*')],
].map(([name, run]) => ({ name, run, best: Infinity }));
for (let r = 0; r < ROUNDS; r++) {
  for (const c of [...cells.flat(), ...extra]) if (c.run) c.best = Math.min(c.best, nsPerCall(c.run));
}

console.log(`Node ${process.version}; ns per full match, best of ${ROUNDS} loops of ${BUDGET_MS} ms\n`);
console.log(`| case | fast path | ${engines.map(([n]) => n).join(' | ')} |`);
console.log(`|---|---|${engines.map(() => '---:').join('|')}|`);
CASES.forEach(([name, pattern], i) => {
  const row = cells[i].map((c) =>
    c.estimate ? `~${(c.estimate.estimateMs / 3.6e6).toFixed(1)} h (${c.estimate.measuredMs.toFixed(0)} ms at ${c.estimate.measuredBytes} B)` : fmt(c.best),
  );
  console.log(`| ${name} | ${linearJsRegExp(pattern) ? 'yes' : 'no'} | ${row.join(' | ')} |`);
});
console.log('');
for (const e of extra) console.log(`${e.name}: ${fmt(e.best)}`);
