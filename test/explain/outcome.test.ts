import { describe, expect, it } from 'vitest';
import { OutcomeShares } from '../../src/explain/outcome.js';

describe('OutcomeShares', () => {
  it('a 50% abort, then a 80/20 split of the rest: 50 / 40 / 10', () => {
    const s = new OutcomeShares();
    s.stop(50, { status: 500, flag: 'FI', by: 'fault', summary: 'abort' });
    expect(s.done).toBe(false);
    s.split([{ percent: 80, outcome: { by: 'router', cluster: 'a', summary: 'to a' } }, { percent: 20, outcome: { by: 'router', cluster: 'b', summary: 'to b' } }]);
    expect(s.done).toBe(true);
    expect(s.outcomes().map((o) => [o.summary, o.share])).toEqual([['abort', 50], ['to a', 40], ['to b', 10]]);
  });

  it('a certain stop ends the walk; later steps add nothing; equal outcomes add up', () => {
    const s = new OutcomeShares();
    s.stop(0, { by: 'fault', summary: 'never' });
    s.split([{ percent: 50, outcome: { by: 'router', summary: '503 UH' } }, { percent: 50, outcome: { by: 'router', summary: '503 UH' } }]);
    s.settle({ by: 'later', summary: 'unreachable' });
    expect(s.outcomes()).toEqual([{ by: 'router', summary: '503 UH', share: 100 }]);
  });
});
