import type { HeaderMutation } from '../config/snapshot.js';

/** A header mutation in words, in the order it applies: `remove a, set b: 1, add c: 2`; undefined when it does nothing. */
export function describeHeaderMutation(m: HeaderMutation | undefined): string | undefined {
  if (!m) return undefined;
  const parts = [...m.remove.map((n) => `remove ${n}`), ...m.set.map(([k, v]) => `set ${k}: ${v}`), ...m.add.map(([k, v]) => `add ${k}: ${v}`)];
  return parts.length ? parts.join(', ') : undefined;
}

/**
 * Header edits on the two shapes the data path carries: a flat [name, value, ...] list with
 * lower-case names (request to upstream) and Node's header object (response to downstream).
 */
export function mutateHeaderList(list: string[], m: HeaderMutation): void {
  for (const name of m.remove) removeFromList(list, name);
  for (const [name, value] of m.set) setInList(list, name, value);
  for (const [name, value] of m.add) list.push(name, value);
}

export function removeFromList(list: string[], name: string): void {
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    if (list[r] === name) continue;
    list[w++] = list[r];
    list[w++] = list[r + 1];
  }
  list.length = w;
}

/** Replaces every `name` entry with one `name: value` at the end. */
export function setInList(list: string[], name: string, value: string): void {
  removeFromList(list, name);
  list.push(name, value);
}

export function getFromList(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

/** Every value of a header joined with "," (as Envoy's header matchers read repeated headers); undefined when absent. */
export function getJoinedFromList(list: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) out = out === undefined ? list[i + 1] : `${out},${list[i + 1]}`;
  return out;
}

export type HeaderObject = Record<string, string | string[] | undefined>;

export function mutateHeaderObject(headers: HeaderObject, m: HeaderMutation): void {
  for (const name of m.remove) delete headers[name];
  for (const [name, value] of m.set) headers[name] = value;
  for (const [name, value] of m.add) {
    const cur = headers[name];
    headers[name] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : [cur, value];
  }
}
