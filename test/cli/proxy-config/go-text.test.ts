import { describe, expect, it } from 'vitest';
import { goQuote, indentJson } from '../../../src/cli/proxy-config/go-json.js';
import { jsonToYaml, keyLess } from '../../../src/cli/proxy-config/go-yaml.js';
import { parseSubsetKey, safelyParseSubsetKey } from '../../../src/cli/proxy-config/subset-key.js';

describe('Go encoding/json text', () => {
  it('quotes strings HTML-safe, with short escapes for \\b \\f \\n \\r \\t', () => {
    expect(goQuote('a<b>&"c"\\\b\f\n\r\t\u0001\u2028é😀')).toBe('"a\\u003cb\\u003e\\u0026\\"c\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u2028é😀"');
    expect(goQuote('\ud800x')).toBe('"\\ufffdx"');
  });

  it('json.Indent: empty containers kept on one line, `": "` after keys', () => {
    expect(indentJson('{"a":[],"b":{},"c":[1,{"d":"x:y,{z}"}]}', '    ')).toBe('{\n    "a": [],\n    "b": {},\n    "c": [\n        1,\n        {\n            "d": "x:y,{z}"\n        }\n    ]\n}');
  });
});

describe("sigs.k8s.io/yaml's JSONToYAML (go-yaml v2)", () => {
  it('orders keys as go-yaml does: non-letters first, digit runs by value', () => {
    const keys = ['b', 'a10', 'a9', '_x', 'B', '10', '9', 'a'];
    expect([...keys].sort((x, y) => (keyLess(x, y) ? -1 : keyLess(y, x) ? 1 : 0))).toEqual(['_x', '9', '10', 'B', 'a', 'a9', 'a10', 'b']);
  });

  it("quotes a string as go-yaml does: double when it reads back as another type, single when plain can't hold it", () => {
    const value = { a: 'yes', b: '1.5', c: '0x1F', d: '1_000', e: '2021-01-01', f: '08', g: '2023-12-26T05:57:39Z/1', h: '*', i: 'k: v', j: 'a #b', k: '-', l: '- x', m: ':x', n: 'ab:', o: "it's", p: 'tab\there', q: '', r: 'n' };
    expect(jsonToYaml(value)).toBe(
      [
        'a: "yes"',
        'b: "1.5"',
        'c: "0x1F"',
        'd: "1_000"',
        'e: "2021-01-01"',
        'f: "08"',
        'g: 2023-12-26T05:57:39Z/1',
        "h: '*'",
        "i: 'k: v'",
        "j: 'a #b'",
        "k: '-'",
        "l: '- x'",
        'm: :x',
        "\"n\": 'ab:'",
        "o: it's",
        'p: "tab\\there"',
        'q: ""',
        'r: "n"',
        '',
      ].join('\n'),
    );
  });

  it('line breaks as literal blocks; numbers as Go prints ints and float64s; empty collections in flow style', () => {
    expect(jsonToYaml({ a: 'line1\nline2', b: 'x\n', c: '  lead\nx', d: ['m\nn', { e: 'p\nq' }], f: 1234567.5, g: 0.00001234, h: 1e21, i: 42, j: [[1, 2], []], k: {}, l: null, m: true })).toBe(
      ['a: |-', '  line1', '  line2', 'b: |', '  x', 'c: |2-', '    lead', '  x', 'd:', '- |-', '  m', '  n', '- e: |-', '    p', '    q', 'f: 1.2345675e+06', 'g: 1.234e-05', 'h: 1e+21', 'i: 42', 'j:', '- - 1', '  - 2', '- []', 'k: {}', 'l: null', 'm: true', ''].join('\n'),
    );
    expect(jsonToYaml([])).toBe('[]\n');
  });
});

describe("pilot's ParseSubsetKey", () => {
  it('direction|port|subset|hostname, and the DNS SRV form', () => {
    expect(parseSubsetKey('outbound|9080|v1|reviews.default.svc.cluster.local')).toEqual({ direction: 'outbound', port: 9080, subset: 'v1', hostname: 'reviews.default.svc.cluster.local' });
    expect(parseSubsetKey('outbound_.9080_.v1_.reviews.default.svc.cluster.local')).toEqual({ direction: 'outbound', port: 9080, subset: 'v1', hostname: 'reviews.default.svc.cluster.local' });
    expect(parseSubsetKey('inbound|9080||')).toEqual({ direction: 'inbound', port: 9080, subset: '', hostname: '' });
  });

  it('stops where a part is missing; a port that is not a number is 0; a hostname with a separator is dropped', () => {
    expect(parseSubsetKey('a|b')).toEqual({ direction: 'a', port: 0, subset: '', hostname: '' });
    expect(parseSubsetKey('outbound|x|s|h')).toEqual({ direction: 'outbound', port: 0, subset: 's', hostname: 'h' });
    expect(parseSubsetKey('outbound|80|s|h|extra')).toEqual({ direction: 'outbound', port: 80, subset: 's', hostname: '' });
  });

  it("istioctl only parses names of more than three '|' parts", () => {
    expect(safelyParseSubsetKey('outbound_.9080_.v1_.reviews')).toEqual({ direction: '', port: 0, subset: '', hostname: 'outbound_.9080_.v1_.reviews' });
    expect(safelyParseSubsetKey('inbound|9080||')).toEqual({ direction: 'inbound', port: 9080, subset: '', hostname: '' });
  });
});
