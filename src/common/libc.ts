/**
 * The C library through koffi's FFI, for the few calls Node has no API for (getsockopt
 * SO_ORIGINAL_DST, malloc_trim, madvise). Loaded once per thread on first use: by the agent after
 * every config load (agent/release-memory.ts, which pages koffi's native module out with the node
 * binary; ~7 MiB of RSS otherwise), by a worker thread only when it needs SO_ORIGINAL_DST; null
 * where it cannot be loaded (another platform, no koffi binary), and the caller does without.
 */
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';
import { log } from '../telemetry/log.js';

export interface Libc {
  koffi: typeof Koffi;
  lib: Koffi.LibraryHandle;
}

/** undefined: not tried yet; null: unavailable in this thread. */
let libc: Libc | null | undefined;

export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    if (process.platform !== 'linux') throw new Error(`platform ${process.platform}`);
    // require, not import: synchronous, and a missing native binary is caught here, not at startup
    const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
    libc = { koffi, lib: koffi.load('libc.so.6') };
  } catch (e) {
    log.debug(`no FFI into libc (${String((e as Error).message).split('\n')[0]})`);
    libc = null;
  }
  return libc;
}

/**
 * A libc function by its C declaration, looked up on the first call of the returned getter: the
 * function, or null where libc or the function is missing (musl has no malloc_trim).
 */
export function libcFunction<F extends (...args: never[]) => unknown>(declaration: string): () => F | null {
  let fn: F | null | undefined;
  return () => {
    if (fn === undefined) {
      try {
        fn = (loadLibc()?.lib.func(declaration) as F | undefined) ?? null;
      } catch {
        fn = null;
      }
    }
    return fn;
  };
}
