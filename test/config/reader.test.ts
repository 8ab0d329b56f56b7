import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrors, formatConfigError } from '../../src/config/errors.js';
import { Field } from '../../src/config/reader.js';
import { parseDocuments } from '../../src/config/source.js';

function field(value: unknown, segs: (string | number)[] = ['spec']): Field {
  return new Field(value, segs, { kind: 'VirtualService', name: 'vs', namespace: 'ns' });
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  return expect.fail('expected a ConfigError');
}

describe('formatConfigError', () => {
  it('names file:line, document, resource and field, in that order', () => {
    expect(
      formatConfigError('bad', { file: 'f.yaml', line: 7, docIndex: 2, kind: 'DestinationRule', namespace: 'ns', name: 'dr', field: 'spec.host' }),
    ).toBe('f.yaml:7, document 2, DestinationRule ns/dr, field spec.host: bad');
  });

  it('omits what it does not know', () => {
    expect(formatConfigError('bad', {})).toBe('bad');
    expect(formatConfigError('bad', { file: 'f.yaml' })).toBe('f.yaml: bad');
    expect(formatConfigError('bad', { docIndex: 0 })).toBe('document 0: bad');
    expect(formatConfigError('bad', { kind: 'Gateway' })).toBe('Gateway (unnamed): bad');
    expect(formatConfigError('bad', { kind: 'Gateway', name: 'gw' })).toBe('Gateway gw: bad');
  });

  it('ConfigErrors lists every message, one per line', () => {
    const errs = new ConfigErrors([new ConfigError('one', { file: 'a' }), new ConfigError('two', { file: 'b' })]);
    expect(errs.message).toBe('a: one\nb: two');
    expect(errs.errors).toHaveLength(2);
    expect(errs.name).toBe('ConfigErrors');
  });
});

describe('Field', () => {
  it('formats paths with dots for keys and brackets for indexes', () => {
    const f = field({ http: [{ route: [{}, { weight: 1 }] }] }).at('http').list()[0].at('route').list()[1].at('weight');
    expect(f.path).toBe('spec.http[0].route[1].weight');
    expect(f.value).toBe(1);
    expect(new Field(1, [], { kind: 'x' }).path).toBe('');
    expect(new Field(1, ['items', 3, 'spec'], { kind: 'x' }).path).toBe('items[3].spec');
  });

  it('fail() carries the resource and field location', () => {
    const e = errorOf(() => field({}).at('hosts').fail('nope'));
    expect(e.reason).toBe('nope');
    expect(e.location).toMatchObject({ kind: 'VirtualService', name: 'vs', namespace: 'ns', field: 'spec.hosts' });
    expect(e.message).toBe('VirtualService ns/vs, field spec.hosts: nope');
  });

  it('takes the line from the source document', () => {
    const [doc] = parseDocuments('f.yaml', 'kind: X\nspec:\n  a:\n    b: 5\n');
    const f = new Field(doc.value, [], { doc, kind: 'X', name: 'n', namespace: 'd' }).at('spec').at('a').at('b');
    const e = errorOf(() => f.int(10));
    expect(e.message).toBe('f.yaml:4, document 0, X d/n, field spec.a.b: must be between 10 and Infinity, got 5');
  });

  it('object() rejects unknown keys with the path of the unknown key', () => {
    const e = errorOf(() => field({ hosts: [], htpp: [] }).object(['hosts', 'http']));
    expect(e.location.field).toBe('spec.htpp');
    expect(e.reason).toBe('unknown field "htpp"');
    expect(() => field({ hosts: [] }).object(['hosts'])).not.toThrow();
    expect(() => field({ anything: 1 }).object()).not.toThrow();
  });

  it('object() rejects non-objects', () => {
    expect(errorOf(() => field([1]).object()).reason).toBe('expected an object, got a list');
    expect(errorOf(() => field('s').object()).reason).toBe('expected an object, got string "s"');
    expect(errorOf(() => field(null).object()).reason).toBe('expected an object, got nothing');
  });

  it('present treats null like absent', () => {
    expect(field(null).present).toBe(false);
    expect(field(undefined).present).toBe(false);
    expect(field(0).present).toBe(true);
    expect(field('').present).toBe(true);
    expect(field(null).optString()).toBeUndefined();
    expect(field(null).optList()).toEqual([]);
  });

  it('int() accepts integers and quoted integers only, with bounds', () => {
    expect(field(5).int()).toBe(5);
    expect(field('42').int()).toBe(42);
    expect(field('-3').int()).toBe(-3);
    expect(errorOf(() => field('x').int()).reason).toBe('expected an integer, got string "x"');
    expect(errorOf(() => field(1.5).int()).reason).toBe('expected an integer, got number 1.5');
    expect(errorOf(() => field('1.5').int()).reason).toBe('expected an integer, got string "1.5"');
    expect(errorOf(() => field(true).int()).reason).toBe('expected an integer, got boolean true');
    expect(errorOf(() => field(0).port()).reason).toBe('must be between 1 and 65535, got 0');
    expect(errorOf(() => field(65536).port()).reason).toBe('must be between 1 and 65535, got 65536');
    expect(field(65535).port()).toBe(65535);
  });

  it('string(), bool(), number() check types', () => {
    expect(errorOf(() => field(1).string()).reason).toBe('expected a string, got number 1');
    expect(errorOf(() => field('').nonEmptyString()).reason).toBe('must not be empty');
    expect(errorOf(() => field('true').bool()).reason).toBe('expected true or false, got string "true"');
    expect(field(false).bool()).toBe(false);
    expect(errorOf(() => field(Number.NaN).number()).reason).toMatch(/^expected a number/);
    expect(field(2.5).number()).toBe(2.5);
  });

  it('oneOf() lists the accepted values', () => {
    expect(field('DNS').oneOf(['NONE', 'DNS'])).toBe('DNS');
    expect(errorOf(() => field('dns').oneOf(['NONE', 'DNS'])).reason).toBe('must be one of NONE, DNS, got "dns"');
  });

  it('durationMs() parses protobuf durations', () => {
    expect(field('1s').durationMs()).toBe(1000);
    expect(field('0.5s').durationMs()).toBe(500);
    expect(field('250ms').durationMs()).toBe(250);
    expect(field('1m30s').durationMs()).toBe(90_000);
    expect(field('1h').durationMs()).toBe(3_600_000);
    expect(field('0').durationMs()).toBe(0);
    for (const bad of ['1', '1x', 's', '', '1s ', '-1s']) {
      expect(errorOf(() => field(bad).durationMs()).reason, bad).toMatch(/^expected a duration/);
    }
  });

  it('list() gives fields with indexed paths; stringList() checks every element', () => {
    const items = field(['a', 'b']).list();
    expect(items.map((f) => f.path)).toEqual(['spec[0]', 'spec[1]']);
    expect(errorOf(() => field({}).list()).reason).toBe('expected a list, got an object');
    const e = errorOf(() => field(['a', 2]).stringList());
    expect(e.location.field).toBe('spec[1]');
  });

  it('entries()/stringMap() read maps, naming the bad key', () => {
    expect(field({ a: 'x', b: 'y' }).stringMap()).toEqual({ a: 'x', b: 'y' });
    expect(field(undefined).stringMap()).toEqual({});
    expect(errorOf(() => field(['x']).stringMap()).reason).toBe('expected an object, got a list');
    const e = errorOf(() => field({ app: 'x', version: 2 }).stringMap());
    expect(e.location.field).toBe('spec.version');
    expect(e.reason).toBe('expected a string, got number 2');
  });
});
