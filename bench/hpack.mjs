#!/usr/bin/env node
// HPACK microbenchmark (see bench/README.md): decoding and encoding the header blocks of an h2load
// request and response and of a gRPC call, with src/codec/http2/hpack (built: npx tsc). For each
// block: the first on a connection (fresh tables: literals, Huffman) and a repeat (the dynamic
// table already holds what repeats, as on a busy connection). Best of --rounds loops of --ms each.
// No network; single thread.
import { HpackDecoder } from '../dist/codec/http2/hpack/decoder.js';
import { HpackEncoder } from '../dist/codec/http2/hpack/encoder.js';
import { bestRate, numberFlag } from './harness.mjs';

const MS = numberFlag('--ms', 200);
const ROUNDS = numberFlag('--rounds', 5);

const CASES = {
  'h2load request': [':method', 'GET', ':path', '/small', ':scheme', 'http', ':authority', '127.0.0.1:15051', 'accept', '*/*', 'accept-encoding', 'gzip, deflate', 'user-agent', 'h2load nghttp2/1.52.0'],
  'h2load response': [':status', '200', 'content-type', 'text/plain', 'content-length', '12', 'date', 'Mon, 07 Dec 2026 01:40:00 GMT', 'server', 'istio-envoy', 'x-envoy-upstream-service-time', '1'],
  'gRPC request': [
    ':method', 'POST', ':scheme', 'http', ':path', '/helloworld.Greeter/SayHello', ':authority', 'greeter.default.svc.cluster.local:50051',
    'content-type', 'application/grpc', 'te', 'trailers', 'grpc-accept-encoding', 'identity,deflate,gzip', 'accept-encoding', 'identity',
    'grpc-timeout', '99987m', 'user-agent', 'grpc-node-js/1.14.7', 'x-request-id', '8f0b3f4e-2c1d-4e5f-9a7b-6c5d4e3f2a1b',
    'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  ],
  'gRPC response + trailers': [':status', '200', 'content-type', 'application/grpc', 'grpc-accept-encoding', 'identity,deflate,gzip', 'grpc-status', '0', 'grpc-message', ''],
};

/** Operations per second of `fn`: the best of ROUNDS loops of MS milliseconds, after a warm-up loop. */
const opsPerSecond = (fn) => bestRate(fn, { ms: MS, rounds: ROUNDS, warmup: 20_000 });

const fmt = (ops) => `${Math.round(ops).toLocaleString('en-US')} (${(1e6 / ops).toFixed(2)} µs)`;
console.log(`HPACK, node ${process.version}: ops/s (µs per op), best of ${ROUNDS} x ${MS} ms\n`);
console.log('| block | octets first / repeat | decode first | decode repeat | encode first | encode repeat |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, headers] of Object.entries(CASES)) {
  const encoder = new HpackEncoder();
  const first = encoder.encode(headers);
  const repeat = encoder.encode(headers);
  const steady = new HpackDecoder();
  steady.decode(first);
  // a check that the blocks carry the list, so the timing is of correct work
  if (JSON.stringify(steady.decode(repeat).headers) !== JSON.stringify(headers)) throw new Error(`${name}: round trip differs`);
  const steadyEncoder = new HpackEncoder();
  steadyEncoder.encode(headers);
  const cells = [
    `${first.length} / ${repeat.length}`,
    fmt(opsPerSecond(() => new HpackDecoder().decode(first))),
    fmt(opsPerSecond(() => steady.decode(repeat))),
    fmt(opsPerSecond(() => new HpackEncoder().encode(headers))),
    fmt(opsPerSecond(() => steadyEncoder.encode(headers))),
  ];
  console.log(`| ${name} (${headers.length / 2} fields) | ${cells.join(' | ')} |`);
}
