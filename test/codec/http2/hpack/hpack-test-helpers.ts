// Shared by the HPACK tests: hex blocks and a dynamic table's contents.
import type { DynamicTable } from '../../../../src/codec/http2/hpack/dynamic-table.js';

/** RFC-style hex ("8286 8441 ...", any whitespace) → bytes. */
export const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** The table's entries, newest (index 1) first, as [name, value] pairs. */
export function entries(table: DynamicTable): [string, string][] {
  return Array.from({ length: table.length }, (_, i) => [table.name(i + 1), table.value(i + 1)]);
}
