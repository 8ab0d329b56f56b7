/** RE2 POSIX classes (valid only inside brackets) → JS class contents. */
const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};

/**
 * Compiles an RE2 pattern (what Istio and Envoy accept) into a JavaScript RegExp that must match the
 * whole input, as Envoy's safe_regex does. RE2-only syntax is translated (`(?P<name>`, leading
 * `(?i)`/`(?s)`/`(?m)`, `\A`, `\z`, `[[:digit:]]`); the result is compiled in unicode mode, so an
 * escape JavaScript does not know is an error instead of a silently literal character.
 */
export function compileRegex(pattern: string, extraFlags = ''): RegExp {
  let flags = extraFlags;
  let body = pattern;
  for (let m = /^\(\?([imsU]+)\)/.exec(body); m; m = /^\(\?([imsU]+)\)/.exec(body)) {
    body = body.slice(m[0].length);
    for (const f of m[1]) if (f !== 'U' && !flags.includes(f)) flags += f;
  }
  body = body
    .replace(/\(\?P</g, '(?<')
    .replace(/\[:(\^?)([a-z]+):\]/g, (_whole, neg: string, name: string) => {
      const cls = POSIX_CLASSES[name];
      if (!cls) throw new SyntaxError(`unknown POSIX class [:${name}:]`);
      if (neg) throw new SyntaxError(`negated POSIX class [:^${name}:] is not supported`);
      return cls;
    });
  body = translateEscapes(body);
  return new RegExp(`^(?:${body})$`, flags.includes('u') ? flags : flags + 'u');
}

/** RE2 escapes JavaScript lacks: `\A` → `^`, `\z` → `$`, escaped punctuation → `\xHH` (unicode mode rejects `\-`). */
function translateEscapes(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\' || i + 1 >= body.length) {
      out += c;
      continue;
    }
    const n = body[++i];
    if (n === 'A') out += '^';
    else if (n === 'z') out += '$';
    else if (/[!"#%&',\-:;<=>@_`~]/.test(n)) out += `\\x${n.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += c + n;
  }
  return out;
}

/** Like compileRegex but unanchored and global, for regex rewrites (Envoy replaces every match). */
export function compileRewriteRegex(pattern: string): RegExp {
  const anchored = compileRegex(pattern);
  return new RegExp(anchored.source.slice(4, -2), anchored.flags + 'g');
}
