import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayBytes } from '../../src/common/byte-pipe.js';
import { COOL_AFTER, COPY_LIMIT, readIntoProxyBuffers } from '../../src/common/read-buffers.js';
import { loopbackPairs } from '../helpers/loopback-pairs.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let pairs: Awaited<ReturnType<typeof loopbackPairs>>;
beforeAll(async () => {
  pairs = await loopbackPairs();
});
afterAll(() => pairs.close());
const pair = () => pairs.pair();

async function until(ok: () => boolean, ms = 3_000): Promise<void> {
  for (let t = 0; !ok() && t < ms; t += 5) await sleep(5);
  expect(ok(), ok.toString()).toBe(true);
}

/** Writes `bytes` in `size` pieces, each after the previous one was read (one read per piece). */
async function sendPieces(outer: Socket, reads: () => number, bytes: Buffer, size: number): Promise<void> {
  for (let at = 0; at < bytes.length; at += size) {
    const before = reads();
    outer.write(bytes.subarray(at, at + size));
    await until(() => reads() > before);
  }
}

describe('readIntoProxyBuffers', () => {
  it('engages on the Node this project runs (accepted and connected sockets); a stream without a socket handle is refused', async () => {
    const { inner, outer } = await pair();
    expect(readIntoProxyBuffers(inner, () => true)).toBe(true);
    expect(readIntoProxyBuffers(outer, () => true)).toBe(true);
    const { PassThrough } = await import('node:stream');
    expect(readIntoProxyBuffers(new PassThrough(), () => true)).toBe(false);
    inner.destroy();
    outer.destroy();
  });

  it('a switched socket changes consumer (a codec hands the connection on): the next reads go to the new one, copies unless it borrows', async () => {
    const { inner, outer } = await pair();
    const first: Buffer[] = [];
    const second: { chunk: Buffer; lent: boolean }[] = [];
    readIntoProxyBuffers(inner, (chunk) => (first.push(chunk), true));
    inner.resume();
    const big = randomBytes(COPY_LIMIT * 2);
    await sendPieces(outer, () => first.length, big, big.length);
    expect(first[0].equals(big)).toBe(true);
    // not borrowing: a big read never made it hot
    await sendPieces(outer, () => first.length, big, big.length);
    expect(readIntoProxyBuffers(inner, (chunk, lent) => (second.push({ chunk: Buffer.from(chunk), lent }), true), { lend: true })).toBe(true);
    await sendPieces(outer, () => second.length, Buffer.concat([big, big]), big.length);
    expect(first).toHaveLength(2);
    expect(second.map((r) => r.lent)).toEqual([false, true]);
    expect(Buffer.concat(second.map((r) => r.chunk)).equals(Buffer.concat([big, big]))).toBe(true);
    inner.destroy();
    outer.destroy();
  });

  it('a quiet socket gets copies that later reads (its own and other sockets\') do not overwrite', async () => {
    const a = await pair();
    const b = await pair();
    const got: { chunk: Buffer; lent: boolean }[] = [];
    for (const p of [a, b]) readIntoProxyBuffers(p.inner, (chunk, lent) => (got.push({ chunk, lent }), true));
    a.inner.resume();
    b.inner.resume();
    const sent: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(100 + i);
      sent.push(bytes);
      const before = got.length;
      (i % 2 ? a : b).outer.write(bytes);
      await until(() => got.length > before);
    }
    expect(got.every((g) => !g.lent)).toBe(true);
    expect(got.map((g) => digest(g.chunk))).toEqual(sent.map(digest));
    for (const p of [a, b]) (p.inner.destroy(), p.outer.destroy());
  });

  it('a read over COPY_LIMIT makes the socket hot (lent views, not read into while the consumer holds them); small reads cool it again', async () => {
    const { inner, outer } = await pair();
    const lentFlags: boolean[] = [];
    const received: Buffer[] = [];
    let held: Buffer | undefined;
    readIntoProxyBuffers(inner, (chunk, lent) => {
      lentFlags.push(lent);
      if (!lent) {
        received.push(chunk);
        return true;
      }
      held = chunk; // keep the view: the socket must not read again until resumed
      return false;
    }, { lend: true });
    inner.resume();
    const first = randomBytes(COPY_LIMIT + 1000);
    await sendPieces(outer, () => lentFlags.length, first, first.length);
    const second = randomBytes(COPY_LIMIT * 2);
    outer.write(second);
    await until(() => held !== undefined);
    const heldDigest = digest(Buffer.from(held!));
    const third = randomBytes(3000);
    outer.write(third);
    await sleep(50);
    // paused: the third write did not land on the held bytes
    expect(digest(held!)).toBe(heldDigest);
    const partOfSecond = Buffer.from(held!);
    held = undefined;
    expect(lentFlags).toEqual([false, true]); // the big read itself was copied out of the shared buffer
    expect(received[0].equals(first)).toBe(true);
    expect(second.subarray(0, partOfSecond.length).equals(partOfSecond)).toBe(true);
    inner.destroy();
    outer.destroy();
  });

  it(`${COOL_AFTER} small reads in a row make a hot socket quiet: copies again`, async () => {
    const { inner, outer } = await pair();
    const lentFlags: boolean[] = [];
    const all: Buffer[] = [];
    readIntoProxyBuffers(inner, (chunk, lent) => {
      lentFlags.push(lent);
      all.push(Buffer.from(chunk));
      return true;
    }, { lend: true });
    inner.resume();
    await sendPieces(outer, () => lentFlags.length, randomBytes(COPY_LIMIT * 2), COPY_LIMIT * 2); // hot
    const small = randomBytes(50 * (COOL_AFTER + 3));
    await sendPieces(outer, () => lentFlags.length, small, 50);
    // the first read copied (and made it hot), COOL_AFTER lent small reads, then copies again
    expect(lentFlags.length).toBe(2 + COOL_AFTER + 2);
    expect(lentFlags).toEqual([false, ...Array<boolean>(COOL_AFTER).fill(true), false, false, false]);
    expect(Buffer.concat(all.slice(1)).equals(small)).toBe(true);
    inner.destroy();
    outer.destroy();
  });

  it('what the socket had read before the switch flows as data first, then the reads, in order', async () => {
    const { inner, outer } = await pair();
    inner.pause();
    outer.write('early ');
    await until(() => inner.readableLength > 0);
    const order: string[] = [];
    inner.on('data', (b: Buffer) => order.push(`data:${b}`));
    readIntoProxyBuffers(inner, (chunk) => (order.push(`read:${chunk}`), true));
    inner.resume();
    outer.write('late');
    await until(() => order.length === 2);
    expect(order).toEqual(['data:early ', 'read:late']);
    inner.destroy();
    outer.destroy();
  });
});

describe('relayBytes over the proxy buffers', () => {
  it('moves 48 MiB both ways intact through a slow reader on the far side (lent buffers wait for their writes)', async () => {
    const a = await pair();
    const b = await pair();
    relayBytes(a.inner, b.inner, { aToB: { onBytes: () => {} }, bToA: { onBytes: () => {} }, idleTimeoutMs: 0 });
    const up = randomBytes(32 * 1024 * 1024);
    const down = randomBytes(16 * 1024 * 1024);
    const gotUp: Buffer[] = [];
    const gotDown: Buffer[] = [];
    let upBytes = 0;
    // the far side reads slowly at first: writes queue up in the relay, which must not overwrite them
    b.outer.pause();
    b.outer.on('data', (c: Buffer) => (gotUp.push(c), (upBytes += c.length)));
    a.outer.on('data', (c: Buffer) => gotDown.push(c));
    a.outer.end(up);
    b.outer.end(down);
    for (let i = 0; i < 20; i++) {
      await sleep(5);
      b.outer.resume();
      await sleep(1);
      b.outer.pause();
    }
    b.outer.resume();
    await until(() => upBytes === up.length && Buffer.concat(gotDown).length === down.length, 20_000);
    expect(digest(Buffer.concat(gotUp))).toBe(digest(up));
    expect(digest(Buffer.concat(gotDown))).toBe(digest(down));
    for (const p of [a, b]) (p.inner.destroy(), p.outer.destroy());
  }, 30_000);

  it('reads smaller than the high-water mark, queued behind a stalled peer, are not overwritten while queued', async () => {
    const a = await pair();
    const b = await pair();
    relayBytes(a.inner, b.inner, { aToB: { onBytes: () => {} }, idleTimeoutMs: 0 });
    const got: Buffer[] = [];
    b.outer.pause();
    b.outer.on('data', (c: Buffer) => got.push(c));
    // 8 KiB pieces, one read each: hot (over COPY_LIMIT), and each write stays under the 16 KiB
    // high-water mark, so only the lent-chunk rule keeps the next read off the queued one
    const sent = randomBytes(8 * 1024 * 3000);
    for (let at = 0; at < sent.length; at += 8 * 1024) {
      a.outer.write(sent.subarray(at, at + 8 * 1024));
      await new Promise((r) => setImmediate(r));
      if (at === 8 * 1024 * 2500) b.outer.resume();
    }
    a.outer.end();
    b.outer.resume();
    await until(() => Buffer.concat(got).length === sent.length, 20_000);
    expect(digest(Buffer.concat(got))).toBe(digest(sent));
    for (const p of [a, b]) (p.inner.destroy(), p.outer.destroy());
  }, 30_000);
});
