import { onFirstUse } from '../common/lazy-module.js';

/**
 * The YAML libraries, loaded on first use (common/lazy-module.ts). The block reader (yaml-block.ts)
 * reads most configs alone; `yaml` is only needed for an error's line, a declined text, mesh config
 * and ProxyConfig strings and Envoy bootstraps, js-yaml for a declined text. A sidecar that never
 * needs them does not hold them (~1.3 MiB of V8 heap in the agent).
 */
export const yamlLib = onFirstUse<typeof import('yaml')>('yaml');
export const jsYamlLib = onFirstUse<typeof import('js-yaml')>('js-yaml');
