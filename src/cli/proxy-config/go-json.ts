/** Go's encoding/json text: string quoting (HTML-safe), float formatting and json.Indent. */

const HEX = '0123456789abcdef';

/** json.Marshal(string): `<`, `>`, `&`, U+2028 and U+2029 escaped, control characters as \b \f \n \r \t or \u00XX. */
export function goQuote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c && c !== 0x3c && c !== 0x3e && c !== 0x26) out += s[i];
      else if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else if (c === 0x08) out += '\\b';
      else if (c === 0x0c) out += '\\f';
      else if (c === 0x0a) out += '\\n';
      else if (c === 0x0d) out += '\\r';
      else if (c === 0x09) out += '\\t';
      else out += `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`;
    } else if (c === 0x2028 || c === 0x2029) {
      out += `\\u${c.toString(16)}`;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      // a lone surrogate is not UTF-8: Go writes the replacement character
      out += pair ? s[i] + s[++i] : '\\ufffd';
    } else {
      out += s[i];
    }
  }
  return `${out}"`;
}

/** json.Marshal(float64): shortest digits, exponent form below 1e-6 and from 1e21 (as JavaScript's). */
export function goFloat(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

/** json.Indent(src, "", indent): one element per line, `{}` and `[]` kept when empty, `": "` after keys. */
export function indentJson(src: string, indent: string): string {
  let out = '';
  let depth = 0;
  let needIndent = false;
  const newline = () => {
    out += `\n${indent.repeat(depth)}`;
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue;
    if (needIndent && c !== ']' && c !== '}') {
      needIndent = false;
      depth++;
      newline();
    }
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j;
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        needIndent = true;
        out += c;
        break;
      case ',':
        out += c;
        newline();
        break;
      case ':':
        out += ': ';
        break;
      case '}':
      case ']':
        if (needIndent) {
          needIndent = false;
        } else {
          depth--;
          newline();
        }
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}
