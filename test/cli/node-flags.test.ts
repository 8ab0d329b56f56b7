import { describe, expect, it } from 'vitest';
import { missingNodeFlags, PROXY_NODE_FLAGS } from '../../src/cli/node-flags.js';

describe('missingNodeFlags', () => {
  it("started without the proxy's flags: node's arguments to start again with, the given ones kept after them", () => {
    expect(missingNodeFlags([], undefined)).toEqual([...PROXY_NODE_FLAGS]);
    expect(missingNodeFlags(['--inspect', '--import', 'x.mjs'], '')).toEqual([...PROXY_NODE_FLAGS, '--inspect', '--import', 'x.mjs']);
  });

  it("with them, or with the operator's own setting (node flag or NODE_OPTIONS): nothing to do", () => {
    expect(missingNodeFlags([...PROXY_NODE_FLAGS], undefined)).toBeUndefined();
    expect(missingNodeFlags(['--max-semi-space-size=16', '--heap-growing-percent=50', '--memory-reducer'], undefined)).toBeUndefined();
    expect(missingNodeFlags(['--heap-growing-percent=50'], '--enable-source-maps --max-semi-space-size=8 --no-memory_reducer')).toBeUndefined();
  });

  it('each flag on its own: only the missing one is added', () => {
    expect(missingNodeFlags(['--max-semi-space-size=16'], undefined)).toEqual(['--heap-growing-percent=20', '--no-memory-reducer', '--max-semi-space-size=16']);
    // a boolean set the other way by the operator is theirs
    expect(missingNodeFlags(['--memory-reducer'], undefined)).toEqual(['--max-semi-space-size=4', '--heap-growing-percent=20', '--memory-reducer']);
  });
});
