/**
 * Compiles an RE2 pattern (what Istio and Envoy accept) into a JavaScript RegExp that must match the
 * whole input, as Envoy's safe_regex does. Translates the RE2-only syntax JS lacks: `(?P<name>`,
 * and leading inline flags such as `(?i)`.
 */
export function compileRegex(pattern: string, extraFlags = ''): RegExp {
  let flags = extraFlags;
  let body = pattern;
  const inline = /^\(\?([imsU]+)\)/.exec(body);
  if (inline) {
    body = body.slice(inline[0].length);
    for (const f of inline[1]) if (f !== 'U' && !flags.includes(f)) flags += f;
  }
  body = body.replace(/\(\?P</g, '(?<');
  return new RegExp(`^(?:${body})$`, flags);
}

/** Like compileRegex but unanchored and global, for regex rewrites (Envoy replaces every match). */
export function compileRewriteRegex(pattern: string): RegExp {
  const anchored = compileRegex(pattern);
  return new RegExp(anchored.source.slice(4, -2), anchored.flags + 'g');
}
