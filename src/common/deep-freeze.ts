/**
 * Freezes a plain-data tree (objects and arrays) all the way down, once, when it is built: whoever
 * holds it afterwards can read it but not change it (a write throws in strict code). An object that
 * is already frozen was frozen by this function, so its subtree is skipped.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) freezeTree(value);
  return value;
}

// indexed and keyed loops (plain data: no inherited enumerable keys), primitives skipped without a
// call: a Snapshot of 1,000 services has ~114,000 distinct objects
function freezeTree(value: object): void {
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) freezeTree(v);
    }
  } else {
    for (const key in value) {
      const v: unknown = (value as Record<string, unknown>)[key];
      if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) freezeTree(v);
    }
  }
}

/**
 * deepFreeze for a structured clone: its equal strings are made one string first. A clone has a copy
 * of every string value where the original shared one (a Snapshot of 1,000 services: 115,000 strings,
 * 32,000 distinct; 3.8 → 1.4 MiB in each worker).
 */
export function deepFreezeSharingStrings<T>(value: T): T {
  const strings = new Map<string, string>();
  const shared = (s: string): string => {
    const known = strings.get(s);
    if (known !== undefined) return known;
    strings.set(s, s);
    return s;
  };
  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (typeof x === 'string') v[i] = shared(x);
        else visit(x);
      }
    } else {
      const o = v as Record<string, unknown>;
      for (const key in o) {
        if (!Object.hasOwn(o, key)) continue;
        const x = o[key];
        if (typeof x === 'string') o[key] = shared(x);
        else visit(x);
      }
    }
    // frozen after its children: an object reached again (shared in the tree) is skipped then
    Object.freeze(v);
  };
  visit(value);
  return value;
}
