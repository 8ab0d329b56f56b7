import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { listConfigFiles, parseDocuments, readConfigDocuments } from '../../src/config/source.js';

describe('parseDocuments', () => {
  it('keeps the index of every document, skipping empty ones', () => {
    const text = ['a: 1', '---', '# only a comment', '---', 'b: 2', '---', '', '---', 'c: [3]'].join('\n');
    const docs = parseDocuments('multi.yaml', text);
    expect(docs.map((d) => d.docIndex)).toEqual([0, 2, 4]);
    expect(docs.map((d) => d.value)).toEqual([{ a: 1 }, { b: 2 }, { c: [3] }]);
    expect(docs.every((d) => d.file === 'multi.yaml')).toBe(true);
  });

  it('returns nothing for an empty text', () => {
    expect(parseDocuments('empty.yaml', '')).toEqual([]);
    expect(parseDocuments('empty.yaml', '---\n---\n')).toEqual([]);
  });

  it('parses JSON documents too', () => {
    const docs = parseDocuments('x.json', '{"kind": "VirtualService", "spec": {"hosts": ["a"]}}');
    expect(docs).toHaveLength(1);
    expect(docs[0].value).toEqual({ kind: 'VirtualService', spec: { hosts: ['a'] } });
  });

  it('finds the 1-based line of a field path, counted from the start of the file', () => {
    const text = [
      'kind: A', //            1
      '---', //                2
      'kind: VirtualService', // 3
      'spec:', //              4
      '  http:', //            5
      '  - route:', //         6
      '    - destination:', // 7
      '        host: a', //    8
      '    - destination:', // 9
      '        host: b', //    10
      '      weight: x', //    11
    ].join('\n');
    const [, vs] = parseDocuments('f.yaml', text);
    expect(vs.docIndex).toBe(1);
    expect(vs.lineOf(['spec', 'http', 0, 'route', 1, 'weight'])).toBe(11);
    expect(vs.lineOf(['spec', 'http', 0, 'route', 1, 'destination', 'host'])).toBe(10);
    expect(vs.lineOf(['kind'])).toBe(3);
  });

  it('falls back to the nearest existing ancestor for a missing field', () => {
    const text = ['kind: VirtualService', 'spec:', '  hosts:', '  - a', '  http:', '  - route: []'].join('\n');
    const [doc] = parseDocuments('f.yaml', text);
    // spec.http[0].route exists (line 6); spec.http[0].route[3].weight does not
    expect(doc.lineOf(['spec', 'http', 0, 'route', 3, 'weight'])).toBe(6);
    expect(doc.lineOf(['spec', 'nope'])).toBe(3); // spec's value starts on line 3
  });

  it('rejects invalid YAML with the file, document and line', () => {
    const text = ['a: 1', '---', 'b: 2', 'c: [unclosed', 'd: 4'].join('\n');
    let err: unknown;
    try {
      parseDocuments('bad.yaml', text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.location.file).toBe('bad.yaml');
    expect(ce.location.docIndex).toBe(1);
    expect(ce.location.line).toBeGreaterThanOrEqual(4);
    expect(ce.message).toMatch(/^bad\.yaml:\d+, document 1: invalid YAML: /);
  });

  it('rejects duplicate keys (a later key would silently win otherwise)', () => {
    const text = ['spec:', '  hosts: [a]', '  hosts: [b]'].join('\n');
    expect(() => parseDocuments('dup.yaml', text)).toThrow(ConfigError);
    expect(() => parseDocuments('dup.yaml', text)).toThrow(/^dup\.yaml(:\d+)?, document 0: invalid YAML: Map keys must be unique/);
  });

  it('expands aliases but stops alias bombs with a ConfigError naming the file', () => {
    const ok = parseDocuments('a.yaml', 'base: &b { x: 1 }\ncopy: *b\n');
    expect(ok[0].value).toEqual({ base: { x: 1 }, copy: { x: 1 } });
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(', ')}]`);
    expect(() => parseDocuments('bomb.yaml', lines.join('\n'))).toThrow(ConfigError);
    expect(() => parseDocuments('bomb.yaml', lines.join('\n'))).toThrow(/^bomb\.yaml(:\d+)?, document 0: /);
  });
});

describe('listConfigFiles / readConfigDocuments', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outrigger-source-'));
    await mkdir(join(dir, 'sub'));
    await mkdir(join(dir, '..data'));
    await writeFile(join(dir, 'b.yaml'), 'kind: B\n');
    await writeFile(join(dir, 'a.yml'), 'kind: A\n---\nkind: A2\n');
    await writeFile(join(dir, 'c.json'), '{"kind": "C"}');
    await writeFile(join(dir, 'notes.txt'), 'kind: ignored\n');
    await writeFile(join(dir, '.hidden.yaml'), 'kind: hidden\n');
    await writeFile(join(dir, '..data', 'x.yaml'), 'kind: configmap-symlink\n');
    await writeFile(join(dir, 'sub', 'd.yaml'), 'kind: D\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('walks directories recursively, sorted, config extensions only, skipping dot entries', async () => {
    const files = await listConfigFiles([dir]);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['a.yml', 'b.yaml', 'c.json', join('sub', 'd.yaml')]);
  });

  it('keeps an explicitly named file whatever its extension', async () => {
    expect(await listConfigFiles([join(dir, 'notes.txt')])).toEqual([join(dir, 'notes.txt')]);
  });

  it('names a missing path', async () => {
    await expect(listConfigFiles([join(dir, 'missing.yaml')])).rejects.toThrow(ConfigError);
    await expect(listConfigFiles([join(dir, 'missing.yaml')])).rejects.toThrow(/missing\.yaml: no such file or directory/);
  });

  it('reads every document of every file with its origin', async () => {
    const docs = await readConfigDocuments([dir]);
    expect(docs.map((d) => [d.file.slice(dir.length + 1), d.docIndex, (d.value as { kind: string }).kind])).toEqual([
      ['a.yml', 0, 'A'],
      ['a.yml', 1, 'A2'],
      ['b.yaml', 0, 'B'],
      ['c.json', 0, 'C'],
      [join('sub', 'd.yaml'), 0, 'D'],
    ]);
  });
});
