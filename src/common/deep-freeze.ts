/**
 * Freezes a plain-data tree (objects and arrays) all the way down, once, when it is built: whoever
 * holds it afterwards can read it but not change it (a write throws in strict code). An object that
 * is already frozen was frozen by this function, so its subtree is skipped.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
