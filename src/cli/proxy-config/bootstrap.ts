import { requireSection, type ConfigDump } from './config-dump.js';
import { at, field, numberOf, objectOf, stringOf } from './json-values.js';
import { printMessage, type OutputFormat } from './print-messages.js';
import { TabWriter } from './tabwriter.js';

const BOOTSTRAP_DUMP_TYPE = 'envoy.admin.v3.BootstrapConfigDump';

/**
 * The version lines `istioctl proxy-config all` starts with, from the bootstrap's node: Istio's
 * version and proxy SHA (node metadata ISTIO_VERSION, ISTIO_PROXY_SHA after its `name:`), and
 * Envoy's `major.minor.patch[-label][/status][/type][/ssl]` from user_agent_build_version.
 */
export function writeBootstrapSummary(dump: ConfigDump): string {
  const node = at(requireSection(dump, 'bootstrap'), 'bootstrap', 'node');
  const metadata = objectOf(field(node, 'metadata'));
  const istioVersion = stringOf(metadata?.ISTIO_VERSION);
  let proxySha = stringOf(metadata?.ISTIO_PROXY_SHA);
  const shaParts = proxySha.split(':');
  if (shaParts.length > 1) proxySha = shaParts[1];

  const build = field(node, 'user_agent_build_version');
  const version = field(build, 'version');
  const buildMetadata = objectOf(field(build, 'metadata')) ?? {};
  let envoyVersion = `${numberOf(field(version, 'major_number'))}.${numberOf(field(version, 'minor_number'))}.${numberOf(field(version, 'patch'))}`;
  if ('build.label' in buildMetadata) envoyVersion += `-${stringOf(buildMetadata['build.label'])}`;
  for (const key of ['revision.status', 'build.type', 'ssl.version']) {
    if (key in buildMetadata) envoyVersion += `/${stringOf(buildMetadata[key])}`;
  }

  // Init(w, 0, 8, 1, ' ', 0)
  const w = new TabWriter({ minWidth: 0, tabWidth: 8, padding: 1, padChar: ' ' });
  if (istioVersion !== '') w.write(`Istio Version:\t${istioVersion}\n`);
  if (proxySha !== '') w.write(`Istio Proxy Version:\t${proxySha}\n`);
  w.write(`Envoy Version:\t${envoyVersion}\n`);
  return w.flush();
}

/** `istioctl proxy-config bootstrap -o json|yaml`: the BootstrapConfigDump, as protomarshal writes it (4-space jsonpb). */
export function writeBootstrapDump(dump: ConfigDump, format: OutputFormat): string {
  return printMessage(BOOTSTRAP_DUMP_TYPE, requireSection(dump, 'bootstrap'), format);
}
