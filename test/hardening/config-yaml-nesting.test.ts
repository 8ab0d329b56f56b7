// Hostile nesting in config YAML: the readers recurse per level, so a deep enough document must end
// in a ConfigError naming the file (the last good config stays), never in a stack overflow thrown out
// of the load. The block YAML reader declines past 100 levels, as js-yaml does; `yaml` then names it.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseDocuments } from '../../src/config/source.js';
import { blockYamlValues } from '../../src/config/yaml-block.js';
import { yamlValues } from '../helpers/yaml-reference.js';

const flow = (n: number) => `a: ${'['.repeat(n)}${']'.repeat(n)}\n`;
const mixedFlow = (n: number) => `a: ${'{ b: ['.repeat(n)}${'] }'.repeat(n)}\n`;
const block = (n: number) => Array.from({ length: n }, (_, i) => `${' '.repeat(i)}k:\n`).join('');
const sequences = (n: number) => Array.from({ length: n }, (_, i) => `${' '.repeat(2 * i)}-\n`).join('');

describe('config YAML nested without end', () => {
  it('20,000 flow levels, 5,000 block levels: a ConfigError naming the file, not a stack overflow', () => {
    for (const text of [flow(20_000), mixedFlow(10_000), block(5_000), sequences(5_000)]) {
      expect(blockYamlValues(text, (s) => s)).toBeUndefined();
      const load = () => parseDocuments('deep.yaml', text);
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(/^deep\.yaml/);
    }
  });

  it('the block reader takes 100 levels and declines 101; either way the values are what yaml reads', () => {
    for (const make of [flow, block, sequences]) {
      expect(blockYamlValues(make(99), (s) => s)).toEqual(yamlValues(make(99)));
      expect(blockYamlValues(make(101), (s) => s)).toBeUndefined();
      expect(parseDocuments('t.yaml', make(150))[0].value).toEqual((yamlValues(make(150)) as unknown[])[0]);
    }
  });
});
