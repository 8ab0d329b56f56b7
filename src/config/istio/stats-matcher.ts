import { regexError } from '../../common/regex.js';
import { ConfigError } from '../errors.js';
import type { StatsMatcherConfig, StringMatch } from '../snapshot.js';
import type { ProxyStatsMatcher } from './resources.js';

/**
 * The stats pilot-agent's bootstrap keeps (its stats_config.stats_matcher inclusion list), so that a
 * sidecar of a mesh with thousands of services does not export a few dozen stats for each cluster:
 * Istio's standard metrics (`reporter=`, `istio`, `component`), the server and manager stats its
 * readiness checks read, the xDS connection's cluster, RBAC decisions and per-route stats, plus what
 * the pod asks for. Per kind (prefixes, suffixes, regexes), the pod's annotation wins over
 * ProxyConfig.proxyStatsMatcher (not merged, as pilot-agent does); `{pod_ip}` becomes each of the
 * proxy's IPs (`http.{pod_ip}_` keeps the inbound listeners' connection manager stats).
 * `annotations`: the pod's (ISTIO_METAJSON_ANNOTATIONS). `exitOnZeroActiveConnections`: pilot-agent's
 * EXIT_ON_ZERO_ACTIVE_CONNECTIONS, under which it polls downstream_cx_active while draining, so keeps it.
 */
export function istioStatsMatcher(
  proxyStatsMatcher: ProxyStatsMatcher | undefined,
  annotations: Readonly<Record<string, string>> = {},
  ips: readonly string[],
  exitOnZeroActiveConnections = false,
): StatsMatcherConfig {
  const withIps = (list: string[]) => list.flatMap((p) => (p.includes(POD_IP) ? ips.map((ip) => p.replaceAll(POD_IP, ip)) : [p]));
  const chosen = (annotation: string, fromProxyConfig: string[] | undefined, required: readonly string[]): string[] => {
    const text = annotations[annotation];
    const own = withIps(text ? annotationList(annotation, text) : (fromProxyConfig ?? []));
    // ProxyConfig's regexes were checked where it was read; the annotation's are checked here
    if (text && annotation === REGEXPS_ANNOTATION) for (const r of own) checkRegex(r, (reason) => annotationError(annotation, reason));
    return [...own, ...withIps([...required])];
  };
  const prefixes = chosen(PREFIXES_ANNOTATION, proxyStatsMatcher?.inclusionPrefixes, REQUIRED_PREFIXES);
  const suffixes = chosen(SUFFIXES_ANNOTATION, proxyStatsMatcher?.inclusionSuffixes, exitOnZeroActiveConnections ? [...REQUIRED_SUFFIXES, 'downstream_cx_active'] : REQUIRED_SUFFIXES);
  const regexes = chosen(REGEXPS_ANNOTATION, proxyStatsMatcher?.inclusionRegexps, REQUIRED_REGEXES);
  const inclusionList: StringMatch[] = [
    { prefix: 'reporter=' },
    ...prefixes.map((prefix) => ({ prefix })),
    ...suffixes.map((suffix) => ({ suffix })),
    ...regexes.map((regex) => ({ regex })),
    { prefix: 'component' },
    { prefix: 'istio' },
  ];
  return { inclusionList };
}

const POD_IP = '{pod_ip}';
const PREFIXES_ANNOTATION = 'sidecar.istio.io/statsInclusionPrefixes';
const SUFFIXES_ANNOTATION = 'sidecar.istio.io/statsInclusionSuffixes';
const REGEXPS_ANNOTATION = 'sidecar.istio.io/statsInclusionRegexps';
/** pilot-agent's, always added (pkg/bootstrap/config.go: "required stats are used by readiness checks"). */
const REQUIRED_PREFIXES = ['cluster_manager', 'listener_manager', 'server', 'cluster.xds-grpc', 'wasm'];
const REQUIRED_SUFFIXES = ['rbac.allowed', 'rbac.denied', 'shadow_allowed', 'shadow_denied'];
const REQUIRED_REGEXES = ['vhost\\..*\\.route\\..*'];

/** A comma-separated annotation, split as pilot-agent splits it; an empty entry would be an empty pattern Envoy refuses. */
function annotationList(annotation: string, text: string): string[] {
  const list = text.split(',');
  if (list.includes('')) annotationError(annotation, `an empty entry in "${text}": Envoy refuses an empty pattern`);
  return list;
}

function annotationError(annotation: string, reason: string): never {
  throw new ConfigError(reason, { field: `the pod's ${annotation} annotation (ISTIO_METAJSON_ANNOTATIONS)` });
}

/** Calls `fail` with RE2's reason when it refuses the pattern. */
export function checkRegex(pattern: string, fail: (reason: string) => never): void {
  const error = regexError(pattern);
  if (error) fail(`invalid regex ${JSON.stringify(pattern)}: ${error}`);
}
