import { describe, expect, it } from 'vitest';
import { compareOnFiles, yamlValues } from '../helpers/yaml-reference.js';
import { parseDocuments } from '../../src/config/source.js';
import { yamlDocumentValues } from '../../src/config/yaml-values.js';

describe('yamlDocumentValues (the block reader, then js-yaml) reads what yaml reads', () => {
  it('resolves plain scalars as the YAML 1.2 core schema of yaml, not as js-yaml or YAML 1.1 would', () => {
    const text = [
      'yes: yes', // 1.1 boolean: a string in 1.2
      'on: off',
      'oct: 0o17',
      'leadingZero: 017', // 1.1 octal (15): decimal in 1.2
      'hex: 0x1F',
      'bin: 0b11', // js-yaml's own schema: 3
      'underscore: 1_000', // js-yaml's own schema: 1000
      'plus: +12',
      'exp: 1e3',
      'dot: .5',
      'decimal: 1.25',
      'ip: 10.1.0.30', // two dots and more: never a float
      'dotExp: 1.5e.3',
      'plusDotExp: +.5e3',
      'inf: -.Inf',
      'nan: .NaN',
      'sexagesimal: 12:30', // 1.1: 750
      'date: 2001-12-14', // js-yaml's default schema: a Date
      'nul: ~',
      'nullUpper: NULL',
      'notNull: nULL',
      'bool: True',
      'notBool: tRUE',
      'empty:',
      'quoted: "12"',
      'tagged: !!str 12',
      '<<: {merged: no}', // 1.1 merge key (js-yaml's default schema merges): a plain key in 1.2
    ].join('\n');
    const [values] = yamlDocumentValues(text) ?? [];
    expect(values).toEqual({
      yes: 'yes',
      on: 'off',
      oct: 15,
      leadingZero: 17,
      hex: 31,
      bin: '0b11',
      underscore: '1_000',
      plus: 12,
      exp: 1000,
      dot: 0.5,
      decimal: 1.25,
      ip: '10.1.0.30',
      dotExp: '1.5e.3',
      plusDotExp: 500,
      inf: Number.NEGATIVE_INFINITY,
      nan: NaN,
      sexagesimal: '12:30',
      date: '2001-12-14',
      nul: null,
      nullUpper: null,
      notNull: 'nULL',
      bool: true,
      notBool: 'tRUE',
      empty: null,
      quoted: '12',
      tagged: '12',
      '<<': { merged: 'no' },
    });
    expect(yamlValues(text)).toEqual([values]);
  });

  it('counts documents as yaml does (empty ones, comments, `...`)', () => {
    for (const text of ['', '---\n', 'a: 1\n---\n', '# c\n---\na: 1\n', '--- # c\na: 1\n', 'a: 1\n...\n---\nb: 2\n', 'a: 1\n---\n# c\n---\nb: 2\n', 'a: 1\n---\n---\n']) {
      expect(yamlDocumentValues(text), JSON.stringify(text)).toEqual(yamlValues(text));
    }
  });

  it('declines what it would read differently or cannot check, so yaml reads it', () => {
    const declined = [
      'base: &b { x: 1 }\ncopy: *b\n', // aliases: yaml copies and limits them
      '%YAML 1.1\n---\na: yes\n', // a directive: yaml switches to 1.1
      'hosts: [{{ .dstSvc }}]\n', // a template: a mapping as a key
      '[a, b]: c\n',
      '? [a]\n: b\n',
      'a: 1\na: 2\n', // duplicate key: yaml names it
      'x: !!binary aGVsbG8=\n',
      'a: [1, 2\n',
    ];
    for (const text of declined) expect(yamlDocumentValues(text), text).toBeUndefined();
    expect(parseDocuments('t.yaml', 'hosts: [{{ .dstSvc }}]\n')[0].value).toEqual({ hosts: [{ '{ .dstSvc }': null }] });
    expect(parseDocuments('t.yaml', '%YAML 1.1\n---\na: yes\n')[0].value).toEqual(yamlValues('%YAML 1.1\n---\na: yes\n')[0]);
  });

  it('reads every YAML file of the examples and the Istio/Envoy conformance data as yaml does', () => {
    const { files, taken, differing } = compareOnFiles(yamlDocumentValues);
    expect(files).toBeGreaterThan(300);
    expect(differing).toEqual([]);
    expect(taken).toBeGreaterThan(files * 0.7);
  });
});
