import { describe, expect, it } from 'vitest';
import { getFromList, mutateHeaderList, removeFromList, setInList } from '../../src/router/headers.js';

describe('header list edits', () => {
  it('setInList replaces every entry of the name with one at the end', () => {
    const list = ['a', '1', 'x', 'old', 'b', '2', 'x', 'older'];
    setInList(list, 'x', 'new');
    expect(list).toEqual(['a', '1', 'b', '2', 'x', 'new']);
  });

  it('setInList adds the name when it was absent', () => {
    const list = ['a', '1'];
    setInList(list, 'x', 'v');
    expect(getFromList(list, 'x')).toBe('v');
    expect(list).toEqual(['a', '1', 'x', 'v']);
  });

  it('removeFromList drops every entry of the name and keeps the order of the rest', () => {
    const list = ['x', '0', 'a', '1', 'x', '2', 'b', '3'];
    removeFromList(list, 'x');
    expect(list).toEqual(['a', '1', 'b', '3']);
  });

  it('mutateHeaderList removes, then sets, then appends', () => {
    const list = ['drop', 'd', 'keep', 'k', 'set', 'old', 'add', 'a1'];
    mutateHeaderList(list, { remove: ['drop'], set: [['set', 'new']], add: [['add', 'a2']] });
    expect(list).toEqual(['keep', 'k', 'add', 'a1', 'set', 'new', 'add', 'a2']);
  });
});
