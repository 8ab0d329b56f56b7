import { describe, expect, it } from 'vitest';
import { TABLE, TabWriter, tabulate } from '../../../src/cli/proxy-config/tabwriter.js';

describe('TabWriter (Go text/tabwriter, flags 0)', () => {
  it('pads each cell to its column block width + padding, left-aligned', () => {
    expect(tabulate('a\tbbb\tc\nxx\ty\tzz\n')).toBe('a      bbb     c\nxx     y       zz\n');
  });

  it("never pads a line's last cell (the text after the last tab is not in a column)", () => {
    expect(tabulate('h1\th2\nlong-cell\tx\n')).toBe('h1            h2\nlong-cell     x\n');
  });

  it('pads empty cells too: trailing tabs leave trailing spaces', () => {
    // column 0: 2 + 5; column 1: 1 + 5; the empty last cell is not padded
    expect(tabulate('a\t\t\nbb\tc\td\n')).toBe(`a${' '.repeat(12)}\nbb     c     d\n`);
  });

  it('a column block is a run of consecutive lines with a cell in that column', () => {
    // column 1 exists in lines 1 and 3 only: two blocks, each as wide as its own cell
    expect(tabulate('a\tb\tc\nd\te\nfffff\tgggggg\th\n')).toBe('a         b     c\nd         e\nfffff     gggggg     h\n');
  });

  it('a line of one cell ends every block', () => {
    expect(tabulate('aaaaaaa\tb\nhello\nc\td\n')).toBe('aaaaaaa     b\nhello\nc     d\n');
  });

  it('an unterminated last line is written without a newline', () => {
    expect(tabulate('a\tb\nc\td')).toBe('a     b\nc     d');
    expect(new TabWriter(TABLE).write('x\ty\n').write('zz').flush()).toBe('x     y\nzz');
  });

  it('counts widths in code points', () => {
    expect(tabulate('é\tx\nab\ty\n')).toBe('é      x\nab     y\n');
  });

  it('minWidth and padding', () => {
    expect(tabulate('a\tb\n', { minWidth: 10, tabWidth: 8, padding: 1, padChar: ' ' })).toBe('a         b\n');
    expect(tabulate('abc\tb\n', { minWidth: 0, tabWidth: 8, padding: 1, padChar: ' ' })).toBe('abc b\n');
  });

  it("pads with tabs when padChar is '\\t', cell widths rounded up to tabWidth", () => {
    expect(tabulate('a\tb\nccccccccc\td\n', { minWidth: 0, tabWidth: 8, padding: 1, padChar: '\t' })).toBe('a\t\tb\nccccccccc\td\n');
  });

  it("a '\\f' ends the line and every block", () => {
    expect(tabulate('a\tb\fcccccc\td\n')).toBe('a     b\ncccccc     d\n');
  });

  it('flush starts over', () => {
    const w = new TabWriter(TABLE).write('long\tx\n');
    expect(w.flush()).toBe('long     x\n');
    expect(w.write('a\tb\n').flush()).toBe('a     b\n');
  });
});
