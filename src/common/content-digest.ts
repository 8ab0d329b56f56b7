import { createHash } from 'node:crypto';

/**
 * JSON with every object's keys sorted (undefined values left out, as JSON does), so equal data gives
 * equal text whatever order its fields were set in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

const digests = new WeakMap<object, string>();

/**
 * A digest of a config object's canonical JSON, computed once per object: a Snapshot's resources are
 * frozen, so the digest of the previous Snapshot's copy is already known when the next one compares.
 */
export function contentDigest(value: object): string {
  let d = digests.get(value);
  if (d === undefined) digests.set(value, (d = createHash('sha256').update(canonicalJson(value)).digest('base64')));
  return d;
}
