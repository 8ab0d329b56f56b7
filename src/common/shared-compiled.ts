/**
 * Compilations shared by their source text: a mesh repeats the same regex, retry_on list and the
 * like across thousands of routes (config time), and heads repeat the same header names (the
 * HTTP/1.1 parser's checked names); what is compiled from equal text (and keeps no state of its own)
 * can serve them all. Bounded: emptied when full, so more distinct sources than `max` (a config's, or
 * a client's made-up names) still work, compiling some again. A compile that throws is not kept.
 */
export function sharedCompiled<T>(max: number, compile: (source: string) => T): (source: string) => T {
  const known = new Map<string, T>();
  return (source) => {
    const hit = known.get(source);
    if (hit !== undefined) return hit;
    const compiled = compile(source);
    if (known.size >= max) known.clear();
    known.set(source, compiled);
    return compiled;
  };
}
