import { describe, expect, it } from 'vitest';
import { missingNodeFlags, PROXY_NODE_FLAGS } from '../../src/cli/node-flags.js';

describe('missingNodeFlags', () => {
  it("started without the proxy's flags: node's arguments to start again with, the given ones kept after them", () => {
    expect(missingNodeFlags([], undefined)).toEqual([...PROXY_NODE_FLAGS]);
    expect(missingNodeFlags(['--inspect', '--import', 'x.mjs'], '')).toEqual([...PROXY_NODE_FLAGS, '--inspect', '--import', 'x.mjs']);
  });

  it("with them, or with the operator's own setting (node flag or NODE_OPTIONS): nothing to do", () => {
    expect(missingNodeFlags([...PROXY_NODE_FLAGS], undefined)).toBeUndefined();
    expect(missingNodeFlags(['--max-semi-space-size=16', '--heap-growing-percent=50', '--memory-reducer', '--short-builtin-calls'], undefined)).toBeUndefined();
    expect(missingNodeFlags(['--heap-growing-percent=50', '--no-short-builtin-calls'], '--enable-source-maps --max-semi-space-size=8 --no-memory_reducer')).toBeUndefined();
  });

  it('each flag on its own: only the missing one is added', () => {
    expect(missingNodeFlags(['--max-semi-space-size=16'], undefined)).toEqual(['--heap-growing-percent=20', '--no-memory-reducer', '--no-short-builtin-calls', '--max-semi-space-size=16']);
    // a boolean set the other way by the operator is theirs: kept, not overridden
    expect(missingNodeFlags(['--memory-reducer', '--short-builtin-calls'], undefined)).toEqual(['--max-semi-space-size=4', '--heap-growing-percent=20', '--memory-reducer', '--short-builtin-calls']);
    // a prefix of another flag's name is not that flag (--heap-growing-percent-x sets nothing of ours)
    expect(missingNodeFlags(['--heap-growing-percent-x', '--max-semi-space-size=4', '--no-short-builtin-calls', '--no-memory-reducer'], undefined)).toEqual([
      '--heap-growing-percent=20', '--heap-growing-percent-x', '--max-semi-space-size=4', '--no-short-builtin-calls', '--no-memory-reducer',
    ]);
  });
});
