// A worker's access-log files: lines written together (per 100 ms), files appended to, files no
// Runtime uses any more closed, a file that cannot be opened costs dropped lines, not a crash.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogSinks } from '../../../src/telemetry/access-log/sinks.js';
import { eventually } from '../../helpers/telemetry.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-sinks-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('LogSinks', () => {
  it('appends its lines to their file, written together; one sink per path', async () => {
    const sinks = new LogSinks();
    const path = join(dir, 'a.log');
    const a = sinks.sink(path);
    expect(sinks.sink(path)).toBe(a);
    a.write('one\n');
    a.write('two\n');
    await eventually(async () => (await readFile(path, 'utf8').catch(() => '')) === 'one\ntwo\n', 2_000);
    expect(await readFile(path, 'utf8')).toBe('one\ntwo\n');
    // a second writer (another worker) appends, it does not truncate
    const other = new LogSinks();
    other.sink(path).write('three\n');
    await eventually(async () => (await readFile(path, 'utf8')).endsWith('three\n'), 2_000);
    expect(await readFile(path, 'utf8')).toBe('one\ntwo\nthree\n');
    other.retain(new Set());
    sinks.retain(new Set());
  });

  it('retain closes the files a new Runtime does not use, flushing them first', async () => {
    const sinks = new LogSinks();
    const kept = join(dir, 'kept.log');
    const gone = join(dir, 'gone.log');
    sinks.sink(kept).write('k\n');
    const g = sinks.sink(gone);
    g.write('g\n');
    sinks.retain(new Set([kept]));
    await eventually(async () => (await readFile(gone, 'utf8').catch(() => '')) === 'g\n', 2_000);
    expect(await readFile(gone, 'utf8')).toBe('g\n');
    expect(sinks.sink(gone)).not.toBe(g);
    sinks.retain(new Set());
  });

  it('a path that cannot be opened: lines are dropped and counted, nothing throws', async () => {
    const sinks = new LogSinks();
    const s = sinks.sink(join(dir, 'no-such-dir', 'x.log'));
    s.write('a\n');
    await new Promise((r) => setTimeout(r, 50));
    s.write('b\n');
    expect(sinks.dropped).toBeGreaterThanOrEqual(1);
  });
});
