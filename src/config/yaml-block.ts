import { charSet, plainScalar } from './yaml-core-schema.js';

/**
 * The YAML that Kubernetes manifests are made of, read in one pass over its lines: block mappings
 * and sequences (kubectl's `key:` then `- item` at the same indentation too), one-line plain and
 * quoted scalars, one-line flow collections (`{ name: v1, labels: { version: v1 } }`), comments and
 * `---` / `...` document markers. That is all of a generated mesh config and most hand-written
 * ones, read several times faster than js-yaml and with a fraction of its garbage (a load of 1,000
 * services spent ~45 % of its instructions in js-yaml).
 *
 * Anything else it declines (undefined) rather than guess, and the caller reads the text with
 * js-yaml or `yaml` as before: block scalars (`|`, `>`), scalars over several lines, anchors,
 * aliases, tags, directives, `?` keys, keys that resolve to something other than a string,
 * `__proto__` and `<<` keys, duplicate keys, tabs, CR, control and astral characters, escapes
 * other than `\" \\ \/ \n \t \uXXXX`, nesting deeper than 100 levels, and any indentation it
 * cannot place. What it reads it reads
 * as `yaml` does (test/config/yaml-block.test.ts compares them).
 *
 * `detach` gets every string cut out of the text: a long `slice` is a view that would keep the
 * whole text alive (yaml-values.ts makes it a string of its own).
 */
export function blockYamlValues(text: string, detach: (s: string) => string): unknown[] | undefined {
  if (REFUSED_CHARS.test(text)) return undefined;
  try {
    return new BlockReader(text, detach).documents();
  } catch (e) {
    if (e === DECLINE) return undefined;
    throw e;
  }
}

/** Tabs, CR, C0/C1 controls, DEL, BOM, surrogates (astral characters), U+2028/9 (line breaks to js-yaml). */
const REFUSED_CHARS = /[\t\r\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uFEFF\uD800-\uDFFF\u2028\u2029]/;

const DECLINE = Symbol('decline');

/**
 * Collections nested deeper than this are declined, as js-yaml refuses them (its maxDepth): the
 * reader recurses per level, and a hostile nesting would otherwise overflow the stack. `yaml` then
 * names the problem.
 */
const MAX_DEPTH = 100;
function decline(): never {
  throw DECLINE;
}

/** Characters that start something other than a plain scalar (or might): declined there. */
const INDICATORS = charSet('-?:,[]{}#&*!|>\'"%@`');
/** Characters a plain key and a flow plain scalar must not contain (flow indicators). */
const FLOW_INDICATORS = charSet(',[]{}');

const SPACE = 32;
const HASH = 35;
const COLON = 58;
const DASH = 45;
const DQUOTE = 34;
const SQUOTE = 39;
const BACKSLASH = 92;

/**
 * The lines with content (blank and comment-only lines are left out) of the document being read:
 * indentation, offset of the first content character, offset of the line's end. Typed arrays
 * shared by every read (a config file has thousands of lines), grown as needed.
 */
let lineIndent = new Int32Array(4096);
let lineStart = new Int32Array(4096);
let lineEnd = new Int32Array(4096);

class BlockReader {
  /** Lines of the current document, and the one being read. */
  private n = 0;
  private i = 0;
  /** Set by keyAt: the offset after the key's colon. */
  private keyEnd = 0;
  /** Collections open around the one being read. */
  depth = 0;

  constructor(
    private readonly text: string,
    /** Every string cut out of the text goes through it (a long slice would keep the text alive). */
    readonly detach: (s: string) => string,
  ) {}

  /** Splits the stream into documents as `yaml` counts them (an empty explicit document is null). */
  documents(): unknown[] {
    const { text } = this;
    const out: unknown[] = [];
    let open = false; // a document has started (explicitly, or by content)
    let ended = false; // `...` closed one: only `---` or comments may follow
    const close = () => {
      out.push(this.document());
      this.n = 0;
      open = false;
    };
    for (let pos = 0; pos < text.length; ) {
      let end = text.indexOf('\n', pos);
      if (end < 0) end = text.length;
      let start = pos;
      while (start < end && text.charCodeAt(start) === SPACE) start++;
      const c = text.charCodeAt(pos);
      if (start === end || text.charCodeAt(start) === HASH) {
        // blank or a comment
      } else if ((c === DASH || c === 46 /* . */) && (end === pos + 3 || text.charCodeAt(pos + 3) === SPACE) && text.charCodeAt(pos + 1) === c && text.charCodeAt(pos + 2) === c) {
        const rest = skipSpaces(text, pos + 3, end);
        if (rest < end && text.charCodeAt(rest) !== HASH) decline(); // content after a marker
        if (open) close();
        open = c === DASH;
        ended = c !== DASH;
      } else {
        if (c === 37 /* % */) decline(); // a directive
        if (ended) decline(); // a bare document after `...`
        open = true;
        this.addLine(start - pos, start, end);
      }
      pos = end + 1;
    }
    if (open) close();
    return out;
  }

  private addLine(indent: number, start: number, end: number): void {
    if (this.n === lineIndent.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      lineIndent = grow(lineIndent);
      lineStart = grow(lineStart);
      lineEnd = grow(lineEnd);
    }
    lineIndent[this.n] = indent;
    lineStart[this.n] = start;
    lineEnd[this.n] = end;
    this.n++;
  }

  /** The indentation of line i; -1 past the document's last line. */
  private indentOf(i: number): number {
    return i < this.n ? lineIndent[i] : -1;
  }

  private document(): unknown {
    if (this.n === 0) return null;
    this.i = 0;
    this.depth = 0;
    const value = this.blockNode(lineIndent[0]);
    if (this.i !== this.n) decline();
    return value;
  }

  /** A block collection whose lines are indented `indent`, starting at the current line. */
  private blockNode(indent: number): unknown {
    const i = this.i;
    if (this.isSequenceItem(i)) return this.sequence(indent);
    const key = this.keyAt(lineStart[i], lineEnd[i]);
    if (key === undefined) decline(); // a scalar on lines of its own
    return this.mapping(key, indent);
  }

  /** Counts a collection opened; declines past MAX_DEPTH. */
  enter(): void {
    if (++this.depth > MAX_DEPTH) decline();
  }

  private isSequenceItem(i: number): boolean {
    const start = lineStart[i];
    return i < this.n && this.text.charCodeAt(start) === DASH && (start + 1 === lineEnd[i] || this.text.charCodeAt(start + 1) === SPACE);
  }

  /**
   * A block mapping: its first key read on the current line (a sequence item's `- key: v` starts
   * one mid-line; keyEnd is after its colon), the others at the start of lines indented `indent`.
   */
  private mapping(first: string, indent: number): Record<string, unknown> {
    const { text } = this;
    this.enter();
    const out: Record<string, unknown> = {};
    let key: string | undefined = first;
    for (;;) {
      const end = lineEnd[this.i];
      if (Object.hasOwn(out, key)) decline(); // a duplicate: yaml names it
      const valueAt = skipSpaces(text, this.keyEnd, end);
      let value: unknown;
      if (valueAt === end || text.charCodeAt(valueAt) === HASH) {
        // the value is on the lines below: more indented, or a sequence at this indentation
        this.i++;
        const next = this.indentOf(this.i);
        if (next > indent) value = this.blockNode(next);
        else if (next === indent && this.isSequenceItem(this.i)) value = this.sequence(indent);
        else value = null;
      } else {
        value = this.inlineValue(valueAt, end);
        this.i++;
        this.noContinuation(indent);
      }
      out[key] = value;
      const next = this.indentOf(this.i);
      if (next < indent) {
        this.depth--;
        return out;
      }
      if (next > indent) decline();
      key = this.keyAt(lineStart[this.i], lineEnd[this.i]);
      if (key === undefined) decline();
    }
  }

  /** A block sequence of `- ` items at the start of lines indented `indent`. */
  private sequence(indent: number): unknown[] {
    const { text } = this;
    this.enter();
    const out: unknown[] = [];
    for (;;) {
      const start = lineStart[this.i];
      const end = lineEnd[this.i];
      const at = skipSpaces(text, start + 1, end);
      if (at === end || text.charCodeAt(at) === HASH) {
        // `-` alone: the item is on the lines below
        this.i++;
        const next = this.indentOf(this.i);
        out.push(next > indent ? this.blockNode(next) : null);
      } else {
        const c = text.charCodeAt(at);
        if (c === DASH && (at + 1 === end || text.charCodeAt(at + 1) === SPACE)) decline(); // `- - a`
        const key = this.keyAt(at, end);
        if (key !== undefined) {
          // `- key: value`: a mapping whose keys line up with this first one
          out.push(this.mapping(key, indent + (at - start)));
        } else {
          out.push(this.inlineValue(at, end));
          this.i++;
          this.noContinuation(indent);
        }
      }
      const next = this.indentOf(this.i);
      // a line at this indentation that is no item ends it: the key after `key:` then `- a` lines
      if (next < indent || (next === indent && !this.isSequenceItem(this.i))) {
        this.depth--;
        return out;
      }
      if (next > indent) decline();
    }
  }

  /** After a value on its key's (or item's) line, a more indented line would continue it: declined. */
  private noContinuation(indent: number): void {
    if (this.indentOf(this.i) > indent) decline();
  }

  /**
   * The key of a `key: value` or `key:` at `pos` (keyEnd: the offset after its colon); undefined
   * when the line is not one (a scalar, a sequence item). Plain keys must be plain strings.
   */
  private keyAt(pos: number, end: number): string | undefined {
    const { text } = this;
    const c = text.charCodeAt(pos);
    if (c === DQUOTE || c === SQUOTE) {
      const name = this.quoted(pos, end);
      const colon = this.quoteEnd;
      if (text.charCodeAt(colon) !== COLON) return undefined;
      if (colon + 1 !== end && text.charCodeAt(colon + 1) !== SPACE) decline();
      this.keyEnd = colon + 1;
      return checkedKey(this.detach(name));
    }
    if (c < 128 && INDICATORS[c] === 1) return undefined;
    let flow = false;
    for (let p = pos; p < end; p++) {
      const ch = text.charCodeAt(p);
      if (ch === COLON && (p + 1 === end || text.charCodeAt(p + 1) === SPACE)) {
        if (flow) decline(); // `a[b]: c` and the like
        let last = p;
        while (text.charCodeAt(last - 1) === SPACE) last--;
        const name = text.slice(pos, last);
        if (plainScalar(name) !== name) decline(); // `80:`, `true:`, `null:` as keys
        this.keyEnd = p + 1;
        return checkedKey(this.detach(name));
      }
      if (ch === HASH && text.charCodeAt(p - 1) === SPACE) return undefined; // a comment before any `: `
      if (ch < 128 && FLOW_INDICATORS[ch] === 1) flow = true;
    }
    return undefined;
  }

  /** A scalar or flow collection from `pos` to the line's end (a comment may follow). */
  private inlineValue(pos: number, end: number): unknown {
    const { text } = this;
    const c = text.charCodeAt(pos);
    let value: unknown;
    let after: number;
    if (c === DQUOTE || c === SQUOTE) {
      value = this.detach(this.quoted(pos, end));
      after = this.quoteEnd;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      const f = new FlowReader(text, pos, end, this);
      value = f.value();
      after = f.pos;
    } else {
      if (INDICATORS[c] === 1 && !dashedPlain(text, pos, end)) decline();
      let stop = end;
      for (let p = pos; p < end; p++) {
        const ch = text.charCodeAt(p);
        if (ch === HASH && text.charCodeAt(p - 1) === SPACE) {
          stop = p;
          break;
        }
        if (ch === COLON && (p + 1 === end || text.charCodeAt(p + 1) === SPACE)) decline(); // `a: b: c`
      }
      const raw = text.slice(pos, stop).trimEnd();
      const v = plainScalar(raw);
      return typeof v === 'string' ? this.detach(v) : v;
    }
    after = skipSpaces(text, after, end);
    if (after !== end && text.charCodeAt(after) !== HASH) decline(); // `"a" b`, `[a] b`
    return value;
  }

  /** Set by quoted: the offset after the closing quote. */
  quoteEnd = 0;

  /** A quoted scalar that closes on its line (quoteEnd: the offset after its closing quote). */
  quoted(pos: number, end: number): string {
    const { text } = this;
    const q = text.charCodeAt(pos);
    let out = '';
    let from = pos + 1;
    for (let p = pos + 1; p < end; p++) {
      const ch = text.charCodeAt(p);
      if (q === SQUOTE) {
        if (ch !== SQUOTE) continue;
        if (text.charCodeAt(p + 1) === SQUOTE && p + 1 < end) {
          out += text.slice(from, p + 1);
          from = p + 2;
          p++;
          continue;
        }
        this.quoteEnd = p + 1;
        return out + text.slice(from, p);
      }
      if (ch === DQUOTE) {
        this.quoteEnd = p + 1;
        return out + text.slice(from, p);
      }
      if (ch === BACKSLASH) {
        out += text.slice(from, p) + this.escape(p, end);
        p += text.charCodeAt(p + 1) === 117 /* u */ ? 5 : 1;
        from = p + 1;
      }
    }
    return decline(); // closes on a later line: folded by rules not kept here
  }

  private escape(p: number, end: number): string {
    const e = this.text.charCodeAt(p + 1);
    switch (e) {
      case DQUOTE: return '"';
      case BACKSLASH: return '\\';
      case 47: return '/';
      case 110: return '\n';
      case 116: return '\t';
      case 117: {
        const hex = this.text.slice(p + 2, p + 6);
        if (p + 6 > end || !/^[0-9a-fA-F]{4}$/.test(hex)) decline();
        const code = parseInt(hex, 16);
        if (code >= 0xd800 && code <= 0xdfff) decline(); // surrogate halves pair up by rules not kept here
        return String.fromCharCode(code);
      }
      default: return decline();
    }
  }
}

/** `[a, b]`, `{ k: v }` and their nesting, on one line. Keys are plain or quoted strings. */
class FlowReader {
  constructor(
    private readonly text: string,
    public pos: number,
    private readonly end: number,
    private readonly block: BlockReader,
  ) {}

  value(): unknown {
    const { text } = this;
    this.pos = skipSpaces(text, this.pos, this.end);
    const c = text.charCodeAt(this.pos);
    if (c === 91 /* [ */) return this.sequence();
    if (c === 123 /* { */) return this.mapping();
    if (c === DQUOTE || c === SQUOTE) {
      const value = this.block.quoted(this.pos, this.end);
      this.pos = this.block.quoteEnd;
      return this.block.detach(value);
    }
    const raw = this.plain();
    const v = plainScalar(raw);
    return typeof v === 'string' ? this.block.detach(v) : v;
  }

  private sequence(): unknown[] {
    const out: unknown[] = [];
    this.pos++;
    this.block.enter();
    for (;;) {
      if (this.peek() === 93 /* ] */) {
        this.pos++;
        this.block.depth--;
        return out;
      }
      out.push(this.value());
      const c = this.peek();
      if (c === COLON) decline(); // `[a: b]`, a pair in a sequence
      if (c === 44 /* , */) this.pos++;
      else if (c !== 93) decline();
    }
  }

  private mapping(): Record<string, unknown> {
    const { text } = this;
    const out: Record<string, unknown> = {};
    this.pos++;
    this.block.enter();
    for (;;) {
      const c = this.peek();
      if (c === 125 /* } */) {
        this.pos++;
        this.block.depth--;
        return out;
      }
      let name: string;
      if (c === DQUOTE || c === SQUOTE) {
        name = this.block.quoted(this.pos, this.end);
        this.pos = this.block.quoteEnd;
      } else {
        name = this.plain();
        if (plainScalar(name) !== name) decline();
      }
      if (text.charCodeAt(this.pos) !== COLON) decline(); // `{ a }`, `{ a : b }`: declined
      this.pos++;
      if (text.charCodeAt(this.pos) !== SPACE) decline(); // `{a:b}` is one plain scalar to YAML
      name = checkedKey(name);
      if (Object.hasOwn(out, name)) decline();
      out[this.block.detach(name)] = this.value();
      const n = this.peek();
      if (n === 44 /* , */) this.pos++;
      else if (n !== 125) decline();
    }
  }

  /** A plain scalar in flow context: up to `,` `]` `}` `: ` or a comment; never empty. */
  private plain(): string {
    const { text, end } = this;
    const start = this.pos;
    const c = text.charCodeAt(start);
    if (start >= end || (c < 128 && INDICATORS[c] === 1 && !dashedPlain(text, start, end))) decline();
    let p = start;
    for (; p < end; p++) {
      const ch = text.charCodeAt(p);
      if (ch < 128 && FLOW_INDICATORS[ch] === 1) break;
      if (ch === COLON && (text.charCodeAt(p + 1) === SPACE || p + 1 === end)) break;
      if (ch === COLON && p + 1 < end && FLOW_INDICATORS[text.charCodeAt(p + 1)] === 1) decline(); // `a:,` reads differently in flow
      if (ch === HASH && text.charCodeAt(p - 1) === SPACE) decline(); // a comment inside a flow collection
    }
    if (p >= end) decline(); // not closed on this line
    this.pos = p;
    return text.slice(start, p).trimEnd();
  }

  private peek(): number {
    this.pos = skipSpaces(this.text, this.pos, this.end);
    if (this.pos >= this.end) decline();
    return this.text.charCodeAt(this.pos);
  }
}

/** A key the reader keeps: `__proto__` (an object's prototype to some readers) and `<<` (a merge to YAML 1.1 readers) are declined. */
function checkedKey(name: string): string {
  if (name === '__proto__' || name === '<<') decline();
  return name;
}

/** `-1`, `--flag`: a plain scalar may start with `-` when a non-space follows (`- ` is a sequence item). */
function dashedPlain(text: string, pos: number, end: number): boolean {
  const next = text.charCodeAt(pos + 1);
  return text.charCodeAt(pos) === DASH && pos + 1 < end && next !== SPACE && !(next < 128 && FLOW_INDICATORS[next] === 1);
}

function skipSpaces(text: string, pos: number, end: number): number {
  while (pos < end && text.charCodeAt(pos) === SPACE) pos++;
  return pos;
}
