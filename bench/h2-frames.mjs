#!/usr/bin/env node
// HTTP/2 frame-layer microbenchmark (see bench/README.md): reading and writing the frames of an
// h2load-like exchange with src/codec/http2/frames (built: npx tsc). A turn is 100 requests or
// responses, as a busy connection reads or writes them per event-loop turn; requests are read from
// one buffer and from 1,448-octet TCP segments. Figures: frames/s (ns per frame), best of --rounds
// loops of --ms each after a warm-up. No network; single thread; HPACK excluded (bench/hpack.mjs).
import { FrameType } from '../dist/codec/http2/frames/constants.js';
import { FrameReader } from '../dist/codec/http2/frames/reader.js';
import { FrameWriter } from '../dist/codec/http2/frames/writer.js';
import { HpackEncoder } from '../dist/codec/http2/hpack/encoder.js';
import { bestRate, numberFlag } from './harness.mjs';

const MS = numberFlag('--ms', 200);
const ROUNDS = numberFlag('--rounds', 5);
const TURN = 100;
const SEGMENT = 1_448;

/** Counts what the reader hands out, touching each payload as a connection would. */
class CountingHandler {
  frames = 0;
  octets = 0;
  onData(_s, data) { this.frames++; this.octets += data.length; }
  onHeaders(_s, block) { this.frames++; this.octets += block.length; }
  onPriority() { this.frames++; }
  onRstStream() { this.frames++; }
  onSettings() { this.frames++; }
  onSettingsAck() { this.frames++; }
  onPushPromise() { this.frames++; }
  onPing() { this.frames++; }
  onGoaway() { this.frames++; }
  onWindowUpdate() { this.frames++; }
  onStreamError(err) { throw err; }
}

// the repeat blocks of bench/hpack.mjs's h2load request and response (13 and 10 octets)
const encoder = new HpackEncoder();
const requestHeaders = [':method', 'GET', ':path', '/small', ':scheme', 'http', ':authority', '127.0.0.1:15051', 'accept', '*/*', 'accept-encoding', 'gzip, deflate', 'user-agent', 'h2load nghttp2/1.52.0'];
const responseHeaders = [':status', '200', 'content-type', 'text/plain', 'content-length', '12', 'date', 'Mon, 07 Dec 2026 01:40:00 GMT', 'server', 'istio-envoy', 'x-envoy-upstream-service-time', '1'];
encoder.encode(requestHeaders);
const requestBlock = encoder.encode(requestHeaders);
encoder.encode(responseHeaders);
const responseBlock = encoder.encode(responseHeaders);
const body = Buffer.from('hello world\n');

/** 100 GET requests (HEADERS with END_STREAM) and the connection WINDOW_UPDATE h2load sends. */
function requestTurn() {
  const w = new FrameWriter();
  for (let i = 0; i < TURN; i++) w.headers(1 + 2 * i, requestBlock, true);
  w.windowUpdate(0, 1_000);
  return { bytes: Buffer.concat(w.take()), frames: TURN + 1 };
}

/** 100 responses: HEADERS, then a 12-octet DATA with END_STREAM. */
function writeResponses(w) {
  for (let i = 0; i < TURN; i++) {
    const id = 1 + 2 * i;
    w.headers(id, responseBlock, false);
    w.data(id, body, true);
  }
  return w.take();
}

/** 4 streams × 64 KiB of response body, in 16 KiB DATA frames. */
function bodyTurn() {
  const w = new FrameWriter();
  for (let s = 0; s < 4; s++) w.data(1 + 2 * s, Buffer.alloc(65_536, 0x61), true);
  return { bytes: Buffer.concat(w.take()), frames: 16 };
}

function openedReader(mode) {
  const handler = new CountingHandler();
  const reader = new FrameReader(handler, { mode });
  if (mode === 'server') reader.feed(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'));
  reader.feed(Buffer.from([0, 0, 0, FrameType.SETTINGS, 0, 0, 0, 0, 0]));
  return { reader, handler };
}

function segments(bytes) {
  const out = [];
  for (let at = 0; at < bytes.length; at += SEGMENT) out.push(bytes.subarray(at, at + SEGMENT));
  return out;
}

/** Frames per second of `turn()`, which handles `framesPerTurn` frames: the best of ROUNDS loops. */
const framesPerSecond = (turn, framesPerTurn) => bestRate(turn, { unitsPerCall: framesPerTurn, ms: MS, rounds: ROUNDS, warmup: 2_000, batch: 10 });

const requests = requestTurn();
const requestSegments = segments(requests.bytes);
const responses = Buffer.concat(writeResponses(new FrameWriter()));
const bodies = bodyTurn();
const server = openedReader('server');
const client = openedReader('client');
const writer = new FrameWriter();

// a check that each case does the work it claims, so the timing is of correct work
server.reader.feed(requests.bytes);
client.reader.feed(responses);
if (server.handler.frames !== 1 + requests.frames || client.handler.frames !== 1 + 2 * TURN) throw new Error('frame counts differ');
const cases = [
  ['server reads 100 requests (HEADERS + END_STREAM) + WINDOW_UPDATE, one read', requests.bytes.length, requests.frames, () => server.reader.feed(requests.bytes)],
  [`the same in ${requestSegments.length} TCP segments of ${SEGMENT} octets`, requests.bytes.length, requests.frames, () => { for (const s of requestSegments) server.reader.feed(s); }],
  ['client reads 100 responses (HEADERS, DATA 12 + END_STREAM)', responses.length, 2 * TURN, () => client.reader.feed(responses)],
  ['server writes 100 responses, one take()', responses.length, 2 * TURN, () => writeResponses(writer)],
  ['client reads 4 × 64 KiB bodies in 16 KiB DATA frames', bodies.bytes.length, bodies.frames, () => client.reader.feed(bodies.bytes)],
];

const fmt = (fps) => `${Math.round(fps).toLocaleString('en-US')} (${(1e9 / fps).toFixed(0)} ns)`;
console.log(`HTTP/2 frames, node ${process.version}: frames/s (ns per frame), best of ${ROUNDS} x ${MS} ms\n`);
console.log('| turn | octets | frames | frames/s (ns per frame) |');
console.log('|---|---:|---:|---:|');
for (const [name, octets, frames, fn] of cases) console.log(`| ${name} | ${octets.toLocaleString('en-US')} | ${frames} | ${fmt(framesPerSecond(fn, frames))} |`);
const writerOut = writeResponses(writer);
console.log(`\nBuffers a written turn of 100 responses leaves as (one writev): ${writerOut.length}`);
