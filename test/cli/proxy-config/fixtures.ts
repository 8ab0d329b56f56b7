import { readFileSync } from 'node:fs';
import { parseConfigDump, type ConfigDump } from '../../../src/cli/proxy-config/index.js';

/** Istio's istioctl test data (Envoy config dumps), read where it lies, outside the repository. */
const ISTIOCTL_DATA = new URL('../../../../shared/conformance/istio/config-dumps/istioctl/pkg/', import.meta.url);

export function istioctlFile(path: string): string {
  return readFileSync(new URL(path, ISTIOCTL_DATA), 'utf8');
}

export function istioctlDump(path: string): ConfigDump {
  return parseConfigDump(istioctlFile(path));
}
