import { writeBootstrapSummary } from './bootstrap.js';
import { writeClusterSummary, type ClusterFilter } from './clusters.js';
import { ProxyConfigError, type ConfigDump } from './config-dump.js';
import { writeEdsSummary, type EndpointFilter } from './eds.js';
import { jsonToYaml } from './go-yaml.js';
import { writeListenerSummary, type ListenerFilter } from './listeners.js';
import type { OutputFormat } from './print-messages.js';
import { writeRouteSummary, type RouteFilter } from './routes.js';
import { writeSecretSummary } from './secrets.js';

/** `istioctl proxy-config all`'s flags, per section (--port and --address apply to several). */
export interface AllSummaryOptions {
  cluster?: ClusterFilter;
  listener?: ListenerFilter;
  route?: RouteFilter;
  endpoint?: EndpointFilter;
  /** --with-headers: a `------ <SECTION> INFO ------` line and a blank line before each section. */
  withHeaders?: boolean;
  /** When VALID CERT is judged (istioctl: now). */
  now?: Date;
}

/**
 * `istioctl proxy-config all` (short output): the version lines, then clusters, listeners, routes,
 * secrets and the dump's endpoints (EndpointsConfigDump: the dump must be taken with
 * `?include_eds=true`), blank-line separated, names prefixed with their type. A section that fails
 * ends it: the error carries what was written before (ProxyConfigError.output).
 */
export function writeAllSummary(dump: ConfigDump, options: AllSummaryOptions = {}): string {
  const sections: [string, () => string][] = [
    ['BOOTSTRAP INFO', () => writeBootstrapSummary(dump)],
    ['CLUSTER INFO', () => writeClusterSummary(dump, options.cluster, { includeConfigType: true })],
    ['LISTENER INFO', () => writeListenerSummary(dump, options.listener, { includeConfigType: true })],
    ['ROUTE INFO', () => writeRouteSummary(dump, options.route, { includeConfigType: true })],
    ['SECRET INFO', () => writeSecretSummary(dump, { now: options.now, includeConfigType: true })],
    ['ENDPOINTS INFO', () => writeEdsSummary(dump, options.endpoint, { includeConfigType: true })],
  ];
  let out = '';
  sections.forEach(([header, write], i) => {
    if (i > 0) out += '\n';
    if (options.withHeaders) out += `------ ${header} ------\n\n`;
    try {
      out += write();
    } catch (err) {
      throw new ProxyConfigError((err as Error).message, out);
    }
  });
  return out;
}

/** `istioctl proxy-config all -o json|yaml`: the dump as fetched (JSON: byte for byte), and a newline. */
export function writeAllDump(dumpText: string, format: OutputFormat): string {
  if (format === 'json') return `${dumpText}\n`;
  let value: unknown;
  try {
    value = JSON.parse(dumpText);
  } catch (err) {
    throw new ProxyConfigError(`error converting JSON to YAML: ${(err as Error).message}`);
  }
  return `${jsonToYaml(value)}\n`;
}
