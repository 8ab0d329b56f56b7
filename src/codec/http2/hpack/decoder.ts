/**
 * The HPACK decoder of one HTTP/2 connection (RFC 7541 §3, §6): header block octets → a flat
 * [name, value, ...] list, in order, as the connection manager takes headers
 * (src/codec/downstream.ts). Names come as sent: HTTP/2 requires lower case, and refusing a field
 * that breaks RFC 9113 §8.2.1 is the stream's job, not HPACK's.
 */
import { DEFAULT_TABLE_SIZE, DynamicTable, entrySize } from './dynamic-table.js';
import { HeaderListTooLargeError, HpackDecodingError, type HeaderListLimit } from './errors.js';
import { decodeInteger, type Cursor } from './integer.js';
import { STATIC_LENGTH, STATIC_NAMES, STATIC_VALUES } from './static-table.js';
import { decodeString } from './string-literal.js';

export interface DecoderOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE this end advertises (default 4,096). */
  maxTableSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: name + value octets + 32 per field (RFC 9113 §6.5.2). Default: none. */
  maxHeaderListSize?: number;
  /** Most fields one block may carry (Envoy's max_headers_count). Default: none. */
  maxHeaderCount?: number;
}

export interface DecodedHeaders {
  /** [name, value, ...] in the order of the block. */
  headers: string[];
  /**
   * Names sent as literals never indexed (RFC 7541 §6.2.3), or undefined: a proxy re-encodes
   * these the same way (§7.1.3), as node:http2 keeps them in `sensitiveHeaders`.
   */
  neverIndexed: string[] | undefined;
}

export class HpackDecoder {
  readonly table: DynamicTable;
  /** The most the peer's encoder may set the table to: our acknowledged SETTINGS_HEADER_TABLE_SIZE. */
  private limit: number;
  /** Our limit went below the table's size: the next block must open with a size update (RFC 7541 §4.2). */
  private updateRequired = false;
  private readonly maxListSize: number;
  private readonly maxCount: number;

  constructor(options: DecoderOptions = {}) {
    this.limit = options.maxTableSize ?? DEFAULT_TABLE_SIZE;
    this.table = new DynamicTable(this.limit);
    this.maxListSize = options.maxHeaderListSize ?? Infinity;
    this.maxCount = options.maxHeaderCount ?? Infinity;
  }

  /** Our new SETTINGS_HEADER_TABLE_SIZE, once the peer acknowledged it. */
  setMaxTableSize(limit: number): void {
    this.limit = limit;
    if (limit < this.table.maxSize) this.updateRequired = true;
  }

  /**
   * Decodes one complete header block (HEADERS plus its CONTINUATIONs). Throws HpackDecodingError
   * (a connection error) or, after reading the whole block so the table stays in step,
   * HeaderListTooLargeError (a stream error).
   */
  decode(block: Buffer): DecodedHeaders {
    const c: Cursor = { buf: block, pos: 0 };
    const table = this.table;
    const headers: string[] = [];
    let neverIndexed: string[] | undefined;
    let listSize = 0;
    let exceeded: HeaderListLimit | undefined;
    let fields = false;
    while (c.pos < block.length) {
      const first = block[c.pos];
      if (this.updateRequired && (first & 0xe0) !== 0x20) throw this.missingUpdate();
      let name: string;
      let value: string;
      if (first & 0x80) {
        // indexed field (§6.1)
        const index = decodeInteger(c, 7);
        if (index === 0) throw new HpackDecodingError('index-zero', 'indexed field with index 0');
        if (index <= STATIC_LENGTH) {
          name = STATIC_NAMES[index];
          value = STATIC_VALUES[index];
        } else {
          this.checkDynamicIndex(index);
          name = table.name(index - STATIC_LENGTH);
          value = table.value(index - STATIC_LENGTH);
        }
      } else if ((first & 0xe0) === 0x20) {
        // dynamic table size update (§6.3): only before the first field (§4.2)
        if (fields) throw new HpackDecodingError('table-size-update-not-at-start', 'dynamic table size update after a field');
        const size = decodeInteger(c, 5);
        if (size > this.limit) throw new HpackDecodingError('table-size-update-over-limit', `dynamic table size update to ${size} over the limit of ${this.limit}`);
        table.setMaxSize(size);
        this.updateRequired = false;
        continue;
      } else {
        // literal with incremental indexing (01, §6.2.1), without indexing (0000) or never indexed (0001)
        const indexed = (first & 0x40) !== 0;
        const index = decodeInteger(c, indexed ? 6 : 4);
        if (index === 0) name = decodeString(c);
        else if (index <= STATIC_LENGTH) name = STATIC_NAMES[index];
        else {
          this.checkDynamicIndex(index);
          name = table.name(index - STATIC_LENGTH);
        }
        value = decodeString(c);
        if (indexed) table.add(name, value);
        else if (first & 0x10) (neverIndexed ??= []).push(name);
      }
      fields = true;
      if (exceeded !== undefined) continue;
      listSize += entrySize(name, value);
      if (listSize > this.maxListSize) exceeded = 'header-list-size';
      else if (headers.length >= this.maxCount * 2) exceeded = 'header-count';
      else headers.push(name, value);
    }
    if (this.updateRequired) throw this.missingUpdate();
    if (exceeded !== undefined) throw new HeaderListTooLargeError(exceeded, exceeded === 'header-list-size' ? this.maxListSize : this.maxCount);
    return { headers, neverIndexed };
  }

  private missingUpdate(): HpackDecodingError {
    return new HpackDecodingError('table-size-update-missing', `the table size limit went down to ${this.limit} and the block did not open with a size update`);
  }

  private checkDynamicIndex(index: number): void {
    if (index - STATIC_LENGTH > this.table.length) {
      throw new HpackDecodingError('index-out-of-range', `index ${index} past the tables (${STATIC_LENGTH} static + ${this.table.length} dynamic)`);
    }
  }
}
