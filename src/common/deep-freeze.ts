/**
 * Freezes a plain-data tree (objects and arrays) all the way down, once, when it is built: whoever
 * holds it afterwards can read it but not change it (a write throws in strict code). An object that
 * is already frozen was frozen by this function, so its subtree is skipped.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  // indexed and keyed loops: no array of values per object (a large Snapshot has ~400,000 objects)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  } else {
    for (const key in value) if (Object.hasOwn(value, key)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
