import { createRequire } from 'node:module';

/**
 * The YAML libraries, loaded (synchronously: their CommonJS builds) on first use. The block reader
 * (yaml-block.ts) reads most configs alone; `yaml` is only needed for an error's line, a declined
 * text, mesh config and ProxyConfig strings and Envoy bootstraps, js-yaml for a declined text. A
 * sidecar that never needs them does not hold them (~1.3 MiB of V8 heap in the agent).
 */
const load = createRequire(import.meta.url);

let yaml: typeof import('yaml') | undefined;
export function yamlLib(): typeof import('yaml') {
  return (yaml ??= load('yaml') as typeof import('yaml'));
}

let jsYaml: typeof import('js-yaml') | undefined;
export function jsYamlLib(): typeof import('js-yaml') {
  return (jsYaml ??= load('js-yaml') as typeof import('js-yaml'));
}
