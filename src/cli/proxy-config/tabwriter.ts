/**
 * Go's text/tabwriter (flags 0), which istioctl prints its tables through. Text is cut into cells
 * by tabs (a cell is tab-terminated: the text after a line's last tab is not part of a column and
 * is never padded); a column block is a run of consecutive lines that have a cell in that column,
 * and every cell of a block is padded to the block's widest cell + padding (at least minWidth).
 * Widths count code points. A line with a single cell, or a '\f', ends all blocks (Go flushes there).
 */
export interface TabWriterSettings {
  minWidth: number;
  tabWidth: number;
  padding: number;
  /** ' ' pads with spaces; '\t' pads with tabs, cell widths rounded up to tabWidth. */
  padChar: string;
}

/** Init(w, 0, 8, 5, ' ', 0): most of istioctl's tables. */
export const TABLE: TabWriterSettings = { minWidth: 0, tabWidth: 8, padding: 5, padChar: ' ' };

interface Cell {
  text: string;
  width: number;
}

export class TabWriter {
  private out = '';
  private lines: Cell[][] = [[]];
  private cellText = '';
  private cellWidth = 0;
  private widths: number[] = [];

  constructor(private readonly settings: TabWriterSettings) {}

  write(text: string): this {
    for (const ch of text) {
      if (ch === '\t' || ch === '\v' || ch === '\n' || ch === '\f') {
        const cells = this.terminateCell();
        if (ch === '\n' || ch === '\f') {
          this.lines.push([]);
          if (ch === '\f' || cells === 1) this.flushLines();
        }
      } else {
        this.cellText += ch;
        this.cellWidth++;
      }
    }
    return this;
  }

  /** Everything written so far, formatted; the writer starts over. */
  flush(): string {
    if (this.cellText !== '') this.terminateCell();
    this.flushLines();
    const out = this.out;
    this.out = '';
    return out;
  }

  private terminateCell(): number {
    const line = this.lines[this.lines.length - 1];
    line.push({ text: this.cellText, width: this.cellWidth });
    this.cellText = '';
    this.cellWidth = 0;
    return line.length;
  }

  private flushLines(): void {
    this.format(0, this.lines.length);
    this.lines = [[]];
    this.widths = [];
  }

  private format(line0: number, line1: number): void {
    const column = this.widths.length;
    for (let current = line0; current < line1; current++) {
      if (column >= this.lines[current].length - 1) continue;
      // a block of lines with a cell in this column starts here
      this.writeLines(line0, current);
      line0 = current;
      let width = this.settings.minWidth;
      for (; current < line1; current++) {
        const line = this.lines[current];
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column].width + this.settings.padding);
      }
      this.widths.push(width);
      this.format(line0, current);
      this.widths.pop();
      line0 = current;
    }
    this.writeLines(line0, line1);
  }

  private writeLines(line0: number, line1: number): void {
    for (let i = line0; i < line1; i++) {
      const line = this.lines[i];
      line.forEach((cell, j) => {
        this.out += cell.text;
        if (j < this.widths.length) this.out += this.padding(cell.width, this.widths[j]);
      });
      // the last buffered line is the one still being written: no newline yet
      if (i + 1 < this.lines.length) this.out += '\n';
    }
  }

  private padding(textWidth: number, cellWidth: number): string {
    const { padChar, tabWidth } = this.settings;
    if (padChar !== '\t') return padChar.repeat(cellWidth - textWidth);
    if (tabWidth === 0) return '';
    const rounded = Math.ceil(cellWidth / tabWidth) * tabWidth;
    return '\t'.repeat(Math.ceil((rounded - textWidth) / tabWidth));
  }
}

/** The text, written through a TabWriter with these settings and flushed. */
export function tabulate(text: string, settings: TabWriterSettings = TABLE): string {
  return new TabWriter(settings).write(text).flush();
}
