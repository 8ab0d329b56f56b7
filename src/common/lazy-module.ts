import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/**
 * A CommonJS module loaded (synchronously) on its first use instead of at import: a thread that never
 * needs it never holds it (re2js 0.6 MiB of V8 heap, `yaml` 0.86, js-yaml 0.39).
 */
export function onFirstUse<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load(name) as T);
}
