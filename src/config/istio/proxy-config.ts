import { yamlLib } from '../yaml-libs.js';
import { Field } from '../reader.js';
import type { HttpConnectionManager } from '../snapshot.js';
import type { ProxyConfigSettings, ProxyStatsMatcher } from './resources.js';
import { checkRegex } from './stats-matcher.js';
import { parseProxyTracing } from './parse-telemetry.js';

/** ProxyConfig fields that change what Outrigger does. */
const APPLIED = ['gatewayTopology', 'proxyStatsMatcher', 'tracing'];

const FORWARD_CLIENT_CERT = ['UNDEFINED', 'SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'] as const;

/**
 * A ProxyConfig (meshconfig.istio.io ProxyConfig: meshConfig.defaultConfig, the PROXY_CONFIG
 * variable, the proxy.istio.io/config annotation). gatewayTopology, proxyStatsMatcher and tracing are
 * applied and checked field by field; the other fields (discoveryAddress, drainDuration, ...) configure istio-agent or
 * the control plane: reported once as not applied, as istio-agent tolerates unknown ones.
 */
export function parseProxyConfig(f: Field, warnings: string[], where: string): ProxyConfigSettings {
  f.object();
  const out: ProxyConfigSettings = {};
  const topo = f.at('gatewayTopology').optObject(['numTrustedProxies', 'forwardClientCertDetails', 'proxyProtocol']);
  if (topo) {
    if (topo.at('proxyProtocol').present) topo.at('proxyProtocol').fail('the PROXY protocol is not supported: a gateway behind a TCP load balancer cannot read it');
    const xfcc = topo.at('forwardClientCertDetails').optOneOf(FORWARD_CLIENT_CERT);
    out.gatewayTopology = {
      numTrustedProxies: topo.at('numTrustedProxies').optInt(0, 0xffffffff) ?? 0,
      ...(xfcc && xfcc !== 'UNDEFINED' ? { forwardClientCertDetails: xfcc } : {}),
    };
  }
  const stats = f.at('proxyStatsMatcher').optObject(['inclusionPrefixes', 'inclusionSuffixes', 'inclusionRegexps']);
  if (stats) out.proxyStatsMatcher = parseProxyStatsMatcher(stats);
  if (f.at('tracing').present) out.tracing = parseProxyTracing(f.at('tracing'), warnings, where);
  const other = Object.keys(f.value as object).filter((k) => !APPLIED.includes(k));
  if (other.length) warnings.push(`${where}: proxy config fields ${other.join(', ')} accepted but not applied by the data plane`);
  return out;
}

function parseProxyStatsMatcher(f: Field): ProxyStatsMatcher {
  const out: ProxyStatsMatcher = {};
  for (const key of ['inclusionPrefixes', 'inclusionSuffixes', 'inclusionRegexps'] as const) {
    const list = f.at(key);
    if (!list.present) continue;
    out[key] = list.list().map((item) => {
      const value = item.nonEmptyString();
      if (key === 'inclusionRegexps') checkRegex(value, (reason) => item.fail(reason));
      return value;
    });
  }
  return out;
}

/**
 * This proxy's own ProxyConfig as istio-agent reads it from PROXY_CONFIG (what injection puts there,
 * the proxy.istio.io/config annotation included): YAML or JSON text. Errors name the source.
 */
export function parseProxyConfigText(text: string, source: string, warnings: string[]): ProxyConfigSettings {
  const root = new Field(undefined, [], { kind: 'ProxyConfig', name: source });
  let value: unknown;
  try {
    value = yamlLib().parse(text) ?? {};
  } catch (e) {
    root.fail(`invalid ProxyConfig YAML/JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseProxyConfig(new Field(value, [], root.ctx), warnings, source);
}

/**
 * istio-agent's merge (mesh.ApplyProxyConfig): a field the overlay sets replaces the base's whole
 * field (gatewayTopology and proxyStatsMatcher included), others are kept.
 */
export function mergeProxyConfig(base: ProxyConfigSettings | undefined, overlay: ProxyConfigSettings): ProxyConfigSettings {
  return { ...base, ...overlay };
}

/**
 * What istiod's buildGatewayConnectionManager takes from the gateway's ProxyConfig: every gateway
 * connection manager gets xff_num_trusted_hops = gatewayTopology.numTrustedProxies and, when set,
 * its forward_client_cert_details (else Istio's SANITIZE_SET stays).
 */
export function gatewayTopologyFields(proxyConfig: ProxyConfigSettings | undefined): Pick<HttpConnectionManager, 'xffNumTrustedHops' | 'forwardClientCertDetails'> {
  const topo = proxyConfig?.gatewayTopology;
  return {
    ...(topo && topo.numTrustedProxies > 0 ? { xffNumTrustedHops: topo.numTrustedProxies } : {}),
    ...(topo?.forwardClientCertDetails ? { forwardClientCertDetails: topo.forwardClientCertDetails } : {}),
  };
}
