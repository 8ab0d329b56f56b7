/** Go's string semantics where they differ from JavaScript's, for istioctl's filters and sort orders. */

/** a < b as Go compares strings: by UTF-8 bytes, i.e. by code point (JavaScript's < compares UTF-16 units). */
export function goLess(a: string, b: string): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return x < 0xd800 && y < 0xd800 ? x < y : a.codePointAt(i)! < b.codePointAt(i)!;
  }
  return a.length < b.length;
}

/** strings.EqualFold (simple case folding, approximated by both case mappings). */
export function equalFold(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase() || a.toUpperCase() === b.toUpperCase();
}

/** strconv.Atoi: the value, or undefined where Go returns an error. */
export function atoi(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}
