// The block YAML reader: what it reads, it reads as `yaml` does; what it cannot promise to read
// that way, it declines (and yamlDocumentValues then reads it with js-yaml or yaml).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { compareOnFiles, yamlValues } from '../helpers/yaml-reference.js';
import { ConfigError } from '../../src/config/errors.js';
import { parseDocuments } from '../../src/config/source.js';
import { blockYamlValues } from '../../src/config/yaml-block.js';

const read = (text: string) => blockYamlValues(text, (s) => s);

describe('blockYamlValues', () => {
  it('reads kubectl-style manifests and hand-written shapes as yaml does', () => {
    const texts = [
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: a  # trailing comment\n  labels:\n    app: a\nspec:\n  ports:\n  - port: 80\n    name: http\n  - port: 443\n',
      'hosts:\n  - a.b.svc.cluster.local\n  -   spaced\n  -\n',
      'a:\n  - name: x\n    list:\n    - 1\n    - two\n  - name: y\nb: c\n',
      'quoted: "a \\"b\\" \\\\ \\/ \\n \\t \\u00e9"\nsingle: \'it\'\'s # not a comment\'\n"quoted key": 1\n\'single key\': 2\n',
      'flow: { name: v1, labels: { version: v1 }, list: [1, "two", \'three\', [], {}] }\nseq: [a, b , c,]\nempty: {}\n',
      'n: -1\nflag: --log-level=debug\nurl: http://x:80/a#frag\nhash: a#b\nneg: [-2, -x]\nkey   : spaced key\n',
      'types: [~, null, Null, NULL, true, False, 0o17, 0x1F, 012, 1e3, .5, +.5e3, -.Inf, .nan, 1_000, 0b11, yes, 12:30]\n',
      'empty:\nnested:\n  deeper:\n    value: 1\n  back: 2\nlast:\n',
      '- a\n- b: 1\n  c: 2\n-\n  d: 3\n- [x]\n',
      '  indented: top\n  same: level\n',
      'unicode: "é中"\nplain: é中 text\n',
      '# only a comment\n',
      '',
      '---\n',
      'a: 1\n---\n',
      '# c\n---\na: 1\n',
      '--- # c\na: 1\n',
      'a: 1\n...\n---\nb: 2\n',
      'a: 1\n---\n# c\n---\nb: 2\n',
      'a: 1\n---\n---\n',
      'long: a-string-longer-than-thirteen-characters\n',
    ];
    for (const text of texts) {
      const values = read(text);
      expect(values, JSON.stringify(text)).toBeDefined();
      expect(values, JSON.stringify(text)).toEqual(yamlValues(text));
    }
  });

  it('declines what it does not read, and the other readers still read it as yaml does', () => {
    const declined = [
      'script: |\n  line one\n  line two\n', // block scalars
      'folded: >\n  a\n  b\n',
      'plain: a\n  continued\n', // a plain scalar over two lines
      'quoted: "a\n  b"\n',
      'base: &b { x: 1 }\ncopy: *b\n',
      'tagged: !!str 12\n',
      '%YAML 1.2\n---\na: 1\n',
      '? complex\n: key\n',
      'a: 1\na: 2\n',
      '__proto__: x\n',
      '<<: { a: 1 }\n',
      'a:\tb\n',
      'a: b\r\n',
      '80: port\n',
      'true: yes\n',
      '- - a\n',
      'a: b: c\n',
      'flow: [a,\n  b]\n',
      'flow: [a, # c\n b]\n',
      'flow: {a:b}\n',
      'flow: {"a":1}\n',
      'flow: [a: b]\n',
      'bad:\n  - a\n  b: c\n',
      'a: 1\n...\nb: 2\n',
      'escape: "\\x41"\n',
      'just a scalar\n',
      '{ a: 1 }\n',
      'k[x]: v\n',
      'a: 1\n   b: 2\n',
    ];
    for (const text of declined) {
      expect(read(text), JSON.stringify(text)).toBeUndefined();
      // what the loader makes of it through js-yaml and yaml: yaml's values, or its error
      const want = yamlValues(text);
      if (want === 'error') expect(() => parseDocuments('t.yaml', text), JSON.stringify(text)).toThrow(ConfigError);
      else expect(parseDocuments('t.yaml', text).map((d) => d.value), JSON.stringify(text)).toEqual(want.filter((v) => v !== null));
    }
  });

  it('reads what yaml writes: generated values round-trip in block and flow styles', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const words = ['a', 'name', 'svc-1.ns.svc.cluster.local', '', ' lead', 'trail ', 'a: b', 'a #b', '#x', '-x', '- x', '80', '0o7', '1e3', 'true', 'null', '~', 'it\'s', 'say "hi"', 'back\\slash', 'é中', '[x]', '{y}', 'a,b', '*star', '&amp', '!bang', '%pc', '@at', '`tick', '?q', ':c', 'x:y', '12:30', 'line\nbreak'];
    const value = (depth: number): unknown => {
      const kind = depth > 3 ? rand(4) : rand(7);
      if (kind === 0) return words[rand(words.length)];
      if (kind === 1) return [rand(1000) - 500, rand(1000) / 8, true, null][rand(4)];
      if (kind === 2) return words[rand(words.length)] + words[rand(words.length)];
      if (kind === 3) return rand(3) === 0 ? [] : {};
      if (kind === 4 || kind === 5) {
        const o: Record<string, unknown> = {};
        for (let k = rand(5); k >= 0; k--) o[words[rand(words.length)] || 'k'] = value(depth + 1);
        return o;
      }
      return Array.from({ length: rand(4) + 1 }, () => value(depth + 1));
    };
    let taken = 0;
    for (let n = 0; n < 400; n++) {
      const doc = { root: value(0) };
      for (const text of [stringify(doc), stringify(doc, { collectionStyle: 'flow' }), stringify(doc, { indentSeq: false })]) {
        const values = read(text);
        if (values === undefined) continue;
        taken++;
        expect(values, text).toEqual(yamlValues(text));
      }
    }
    expect(taken).toBeGreaterThan(450); // 550: the others have multi-line strings (yaml writes block scalars)
  });

  it('reads most YAML files of the examples and the Istio/Envoy conformance data, each as yaml does', () => {
    const { files, taken, differing } = compareOnFiles(read);
    expect(differing).toEqual([]);
    expect(taken).toBeGreaterThan(files * 0.75);
  });
});
