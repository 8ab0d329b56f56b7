/**
 * The HPACK encoder of one HTTP/2 connection: a flat [name, value, ...] list (lower-case names) →
 * one header block. What it indexes follows nghttp2's deflater, which Envoy and node:http2 both run:
 *  - never indexed (RFC 7541 §6.2.3, §7.1.3): `authorization`, `cookie` values under 20 octets
 *    (guessable), and the names the caller marks (those the decoder saw never indexed);
 *  - not indexed: `:path`, `age`, `content-length`, `etag`, `if-modified-since`, `if-none-match`,
 *    `location`, `set-cookie` (values that rarely repeat), and fields bigger than 3/4 of the table;
 *  - everything else is added to the dynamic table;
 *  - a full match in the static table, else the dynamic one, is sent as an index; a never-indexed
 *    field is always sent as a literal;
 *  - strings are Huffman-coded when that is shorter.
 * The table is bounded by our own maximum (4,096 as nghttp2's default), whatever larger size the
 * peer's SETTINGS_HEADER_TABLE_SIZE allows.
 */
import { DEFAULT_TABLE_SIZE, DynamicTable, entrySize } from './dynamic-table.js';
import { STATIC_FIELD_INDEX, STATIC_LENGTH, STATIC_NAME_INDEX } from './static-table.js';
import { encodeString } from './string-literal.js';
import { BlockWriter } from './writer.js';

const NOT_INDEXED = new Set([':path', 'age', 'content-length', 'etag', 'if-modified-since', 'if-none-match', 'location', 'set-cookie']);

/** nghttp2 never indexes a cookie shorter than this: a short secret is easy to guess by its compression (CRIME). */
const SHORT_COOKIE = 20;

export interface EncoderOptions {
  /** The most this encoder lets its dynamic table grow to (default 4,096), whatever the peer allows. */
  maxTableSize?: number;
  /** Huffman-code strings when shorter (default true); off, every string goes raw. */
  huffman?: boolean;
}

export class HpackEncoder {
  readonly table: DynamicTable;
  private readonly ownLimit: number;
  private readonly huffman: boolean;
  /** The smallest size set since the last block and the size to end on: the size updates to send (RFC 7541 §4.2). */
  private pendingMin = Infinity;
  private pendingUpdate = false;
  /** Dynamic entries by name → value → their insertion number, and name → the newest one. */
  private readonly byField = new Map<string, Map<string, number>>();
  private readonly byName = new Map<string, number>();
  private readonly writer = new BlockWriter();

  constructor(options: EncoderOptions = {}) {
    this.ownLimit = options.maxTableSize ?? DEFAULT_TABLE_SIZE;
    this.huffman = options.huffman ?? true;
    // the peer's decoder starts at 4,096 (RFC 9113 §6.5.2); a smaller own limit is announced in the first block
    this.table = new DynamicTable(Math.min(this.ownLimit, DEFAULT_TABLE_SIZE), (name, value, seq) => this.forget(name, value, seq));
    if (this.ownLimit < DEFAULT_TABLE_SIZE) this.setPeerMaxTableSize(DEFAULT_TABLE_SIZE);
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE: the table uses min(it, our own limit) from the next block on. */
  setPeerMaxTableSize(peerLimit: number): void {
    const size = Math.min(peerLimit, this.ownLimit);
    this.pendingMin = Math.min(this.pendingMin, size);
    this.pendingUpdate = true;
    this.table.setMaxSize(size);
  }

  /** Encodes one header block. `neverIndexed`: names to send as never-indexed literals. */
  encode(headers: readonly string[], neverIndexed?: readonly string[]): Buffer {
    const w = this.writer;
    if (this.pendingUpdate) {
      // the smallest size in between first, so the peer evicts what we evicted (§4.2)
      if (this.pendingMin < this.table.maxSize) w.integer(this.pendingMin, 5, 0x20);
      w.integer(this.table.maxSize, 5, 0x20);
      this.pendingUpdate = false;
      this.pendingMin = Infinity;
    }
    for (let i = 0; i < headers.length; i += 2) this.field(w, headers[i], headers[i + 1], neverIndexed);
    return w.take();
  }

  private field(w: BlockWriter, name: string, value: string, neverIndexed: readonly string[] | undefined): void {
    const never = name === 'authorization' || (name === 'cookie' && value.length < SHORT_COOKIE) || (neverIndexed !== undefined && neverIndexed.includes(name));
    if (!never) {
      const index = this.fieldIndex(name, value);
      if (index > 0) {
        w.integer(index, 7, 0x80);
        return;
      }
    }
    const nameIndex = STATIC_NAME_INDEX.get(name) ?? this.dynamicIndex(this.byName.get(name));
    if (never) w.integer(nameIndex, 4, 0x10);
    else if (NOT_INDEXED.has(name) || entrySize(name, value) > (this.table.maxSize * 3) / 4) w.integer(nameIndex, 4, 0);
    else {
      w.integer(nameIndex, 6, 0x40);
      this.remember(name, value);
    }
    if (nameIndex === 0) encodeString(w, name, this.huffman);
    encodeString(w, value, this.huffman);
  }

  /** The index of a full match, static first, or 0. */
  private fieldIndex(name: string, value: string): number {
    const staticIndex = STATIC_FIELD_INDEX.get(name)?.get(value);
    if (staticIndex !== undefined) return staticIndex;
    return this.dynamicIndex(this.byField.get(name)?.get(value));
  }

  private dynamicIndex(seq: number | undefined): number {
    return seq === undefined ? 0 : STATIC_LENGTH + this.table.inserted - seq;
  }

  private remember(name: string, value: string): void {
    const seq = this.table.inserted;
    this.table.add(name, value);
    if (this.table.length === 0) return; // bigger than the whole table: it emptied it instead (§4.4)
    let values = this.byField.get(name);
    if (!values) this.byField.set(name, (values = new Map()));
    values.set(value, seq);
    this.byName.set(name, seq);
  }

  /** An evicted entry leaves the lookups, unless a newer copy of it took its place there. */
  private forget(name: string, value: string, seq: number): void {
    const values = this.byField.get(name);
    if (values?.get(value) === seq) {
      values.delete(value);
      if (values.size === 0) this.byField.delete(name);
    }
    if (this.byName.get(name) === seq) this.byName.delete(name);
  }
}
