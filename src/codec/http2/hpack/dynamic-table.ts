/**
 * The HPACK dynamic table (RFC 7541 §2.3.2, §4): newest entry at index 1, a size that counts each
 * entry as its name and value octets plus 32 (§4.1), eviction from the oldest end when an entry is
 * added or the maximum size shrinks (§4.3, §4.4). Strings are latin1: one char per octet.
 */

/** RFC 9113 §6.5.2: SETTINGS_HEADER_TABLE_SIZE starts at 4,096 at both ends. */
export const DEFAULT_TABLE_SIZE = 4096;

/** The per-entry overhead of RFC 7541 §4.1. */
export const ENTRY_OVERHEAD = 32;

export const entrySize = (name: string, value: string): number => name.length + value.length + ENTRY_OVERHEAD;

export class DynamicTable {
  /** Ring of entries; the newest at `head - 1`, the oldest `length` places before it. */
  private names: string[] = new Array(16);
  private values: string[] = new Array(16);
  private head = 0;
  /** Entries held. */
  length = 0;
  /** Sum of entry sizes. */
  size = 0;
  /** Entries ever added: entry `seq` (0-based) is at index inserted - seq while it is held. */
  inserted = 0;

  /**
   * @param maxSize the current maximum size (as the last dynamic table size update set it)
   * @param onEvict told of each entry that leaves the table (the encoder's lookups follow it)
   */
  constructor(public maxSize: number, private readonly onEvict?: (name: string, value: string, seq: number) => void) {}

  /** Entry `index` (1 = newest): its name and value. Callers check 1 <= index <= length. */
  name(index: number): string {
    return this.names[(this.head - index) & (this.names.length - 1)];
  }

  value(index: number): string {
    return this.values[(this.head - index) & (this.names.length - 1)];
  }

  /** Adds an entry, evicting as needed; one larger than the maximum size empties the table (§4.4). */
  add(name: string, value: string): void {
    const size = entrySize(name, value);
    this.evictTo(this.maxSize - size);
    this.inserted++;
    if (size > this.maxSize) return;
    if (this.length === this.names.length) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & (this.names.length - 1);
    this.length++;
    this.size += size;
  }

  /** A new maximum size (a dynamic table size update, or the encoder's own change): evicts to fit. */
  setMaxSize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictTo(maxSize);
  }

  private evictTo(target: number): void {
    const mask = this.names.length - 1;
    while (this.size > target && this.length > 0) {
      const at = (this.head - this.length) & mask;
      const name = this.names[at];
      const value = this.values[at];
      this.names[at] = this.values[at] = '';
      this.length--;
      this.size -= entrySize(name, value);
      this.onEvict?.(name, value, this.inserted - this.length - 1);
    }
  }

  private grow(): void {
    const n = this.names.length;
    const names: string[] = new Array(n * 2);
    const values: string[] = new Array(n * 2);
    for (let i = 0; i < n; i++) {
      names[i] = this.names[(this.head + i) & (n - 1)];
      values[i] = this.values[(this.head + i) & (n - 1)];
    }
    this.names = names;
    this.values = values;
    this.head = n;
  }
}
