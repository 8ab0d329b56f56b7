import type { Field } from '../reader.js';
import type { ClientTlsSpec, DestinationRuleSpec, LbSimple, PolicyLayer, ResourceMeta, SubsetSpec, TrafficPolicySpec } from './resources.js';
import { describeResource, parseExportTo } from './parse.js';

const LB_SIMPLE: readonly LbSimple[] = ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'];
const POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget'];
const PORT_POLICY_FIELDS = ['port', 'loadBalancer', 'connectionPool', 'outlierDetection', 'tls'];
const TCP_POOL_FIELDS = ['maxConnections', 'connectTimeout', 'tcpKeepalive', 'maxConnectionDuration', 'idleTimeout'];
const HTTP_POOL_FIELDS = [
  'http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout',
  'h2UpgradePolicy', 'useClientProtocol', 'maxConcurrentStreams',
];
/** Parsed and enforced now; everything else in a policy is validated as an object and enforced later. */
const ENFORCED_POOL = new Set([
  'connectTimeout', 'idleTimeout', 'maxConnections', 'http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries',
  'h2UpgradePolicy', 'maxConcurrentStreams', 'useClientProtocol',
]);
const UINT32 = 2 ** 32 - 1;

export function parseDestinationRule(spec: Field, meta: ResourceMeta, warnings: string[]): DestinationRuleSpec {
  spec.object(['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector']);
  const pending = new Set<string>();
  const subsetNames = new Set<string>();
  const subsets: SubsetSpec[] = spec.at('subsets').optList().map((s) => {
    s.object(['name', 'labels', 'trafficPolicy']);
    const name = s.at('name').nonEmptyString();
    if (subsetNames.has(name)) s.at('name').fail(`duplicate subset name "${name}"`);
    subsetNames.add(name);
    return { name, labels: s.at('labels').stringMap(), trafficPolicy: parseTrafficPolicy(s.at('trafficPolicy'), pending) };
  });
  const ws = spec.at('workloadSelector');
  const trafficPolicy = parseTrafficPolicy(spec.at('trafficPolicy'), pending);
  if (pending.size) warnings.push(`${describeResource(meta)}: ${[...pending].join(', ')} accepted but not enforced yet`);
  return {
    meta,
    host: spec.at('host').nonEmptyString(),
    trafficPolicy,
    subsets,
    exportTo: parseExportTo(spec.at('exportTo')),
    workloadSelector: ws.present ? ws.object(['matchLabels']).at('matchLabels').stringMap() : undefined,
  };
}

function parseLocality(f: Field): NonNullable<PolicyLayer['locality']> {
  f.object(['distribute', 'failover', 'failoverPriority', 'enabled']);
  const failover = f.at('failover').optList().map((x) => {
    x.object(['from', 'to']);
    const from = x.at('from').nonEmptyString();
    const to = x.at('to').nonEmptyString();
    if (from === to) x.at('to').fail('failover from and to must be different regions');
    return { from, to };
  });
  const distribute = f.at('distribute').optList().map((x) => {
    x.object(['from', 'to']);
    const to: Record<string, number> = {};
    let total = 0;
    for (const [k, v] of x.at('to').entries()) total += to[k] = v.int(0, 100);
    if (total !== 100) x.at('to').fail(`distribute weights must add up to 100, got ${total}`);
    return { from: x.at('from').nonEmptyString(), to };
  });
  if (failover.length && distribute.length) f.fail('failover and distribute are mutually exclusive');
  return { enabled: f.at('enabled').optBool() ?? true, failover, failoverPriority: f.at('failoverPriority').stringList(), distribute };
}

function parseConsistentHash(f: Field): NonNullable<PolicyLayer['consistentHash']> {
  f.object(['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName', 'ringHash', 'maglev', 'minimumRingSize']);
  const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => f.at(k).present);
  if (keys.length !== 1) f.fail('exactly one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName is required');
  let policy: NonNullable<PolicyLayer['consistentHash']>['policy'];
  switch (keys[0]) {
    case 'httpHeaderName':
      policy = { header: f.at('httpHeaderName').nonEmptyString().toLowerCase() };
      break;
    case 'httpCookie': {
      const c = f.at('httpCookie').object(['name', 'path', 'ttl', 'attributes']);
      const ttlMs = c.at('ttl').optDurationMs();
      policy = { cookie: { name: c.at('name').nonEmptyString(), ...(c.at('path').optString() ? { path: c.at('path').string() } : {}), ...(ttlMs ? { ttlMs } : {}) } };
      break;
    }
    case 'useSourceIp':
      if (!f.at('useSourceIp').bool()) f.at('useSourceIp').fail('useSourceIp must be true when set');
      policy = { sourceIp: true };
      break;
    default:
      policy = { queryParameter: f.at('httpQueryParameterName').nonEmptyString() };
  }
  const maglev = f.at('maglev');
  const ring = f.at('ringHash');
  if (maglev.present && ring.present) f.fail('ringHash and maglev are mutually exclusive');
  let tableSize: number | undefined;
  if (maglev.present) tableSize = maglev.object(['tableSize']).at('tableSize').optInt(1, 5_000_011);
  else if (ring.present) tableSize = ring.object(['minimumRingSize']).at('minimumRingSize').optInt(1, 8_388_608);
  else tableSize = f.at('minimumRingSize').optInt(1, 8_388_608);
  return { policy, maglev: maglev.present, ...(tableSize ? { tableSize } : {}) };
}

function parseTrafficPolicy(f: Field, pending: Set<string>): TrafficPolicySpec | undefined {
  if (!f.present) return undefined;
  f.object(POLICY_FIELDS);
  const base = parsePortPolicy(f, pending);
  for (const k of ['tunnel', 'proxyProtocol', 'retryBudget']) {
    if (f.at(k).present) {
      f.at(k).object();
      pending.add(`trafficPolicy.${k}`);
    }
  }
  const portLevel = f.at('portLevelSettings').optList().map((p) => {
    p.object(PORT_POLICY_FIELDS);
    const port = p.at('port').object(['number']).at('number').port();
    return { port, ...parsePortPolicy(p, pending) };
  });
  return { ...base, portLevel };
}

const TLS_FIELDS = ['mode', 'clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'subjectAltNames', 'sni', 'insecureSkipVerify', 'caCrl'];

/**
 * ClientTLSSettings. The certificate files are read now, so a missing or unreadable one is a config
 * error naming its field (the last good config stays); they are read again on every reload.
 */
function parseClientTls(f: Field, pending: Set<string>): ClientTlsSpec | undefined {
  if (!f.present) return undefined;
  f.object(TLS_FIELDS);
  const mode = f.at('mode').optOneOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const) ?? 'DISABLE';
  const read = (key: string) => f.at(key).optFileContent();
  if (f.at('caCrl').present) pending.add('trafficPolicy.tls.caCrl');
  const out: ClientTlsSpec = { mode, subjectAltNames: f.at('subjectAltNames').stringList() };
  const sni = f.at('sni').optString();
  if (sni) out.sni = sni;
  if (f.at('insecureSkipVerify').optBool()) out.insecureSkipVerify = true;
  const credentialName = f.at('credentialName').optString();
  if (credentialName && (mode === 'SIMPLE' || mode === 'MUTUAL')) out.credentialName = credentialName;
  // ISTIO_MUTUAL uses the workload certificate: a credential has no part in it
  else if (credentialName) pending.add(`trafficPolicy.tls.credentialName (not used with mode ${mode})`);
  if (mode === 'SIMPLE' || mode === 'MUTUAL') {
    const ca = read('caCertificates');
    if (ca) Object.assign(out, { caPem: ca, caFile: f.at('caCertificates').optString() });
  }
  if (mode === 'MUTUAL') {
    // Istio: MUTUAL needs the client certificate and its key (unless a credentialName provides them)
    if (!f.at('credentialName').present) {
      if (!f.at('clientCertificate').optString()) f.at('clientCertificate').fail('clientCertificate is required when mode is MUTUAL');
      if (!f.at('privateKey').optString()) f.at('privateKey').fail('privateKey is required when mode is MUTUAL');
    }
    const cert = read('clientCertificate');
    const key = read('privateKey');
    if (cert) Object.assign(out, { certPem: cert, certFile: f.at('clientCertificate').optString() });
    if (key) Object.assign(out, { keyPem: key, keyFile: f.at('privateKey').optString() });
  }
  return out;
}

function parsePortPolicy(f: Field, pending: Set<string>): PolicyLayer {
  const out: PolicyLayer = {};
  const tls = parseClientTls(f.at('tls'), pending);
  if (tls) out.tls = tls;
  const od = f.at('outlierDetection');
  if (od.present) {
    od.object([
      'consecutiveErrors', 'consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures',
      'splitExternalLocalOriginErrors', 'interval', 'baseEjectionTime', 'maxEjectionPercent', 'minHealthPercent',
    ]);
    const interval = od.at('interval').optDurationMs();
    if (interval !== undefined && interval < 1) od.at('interval').fail('interval must be at least 1ms');
    const base = od.at('baseEjectionTime').optDurationMs();
    if (base !== undefined && base < 1) od.at('baseEjectionTime').fail('baseEjectionTime must be at least 1ms');
    out.outlier = {
      // consecutiveErrors: Istio's deprecated name, which meant gateway errors (502/503/504)
      consecutive5xxErrors: od.at('consecutive5xxErrors').optInt(0, UINT32),
      consecutiveGatewayErrors: od.at('consecutiveGatewayErrors').optInt(0, UINT32) ?? od.at('consecutiveErrors').optInt(0, UINT32),
      consecutiveLocalOriginFailures: od.at('consecutiveLocalOriginFailures').optInt(0, UINT32),
      splitExternalLocalOriginErrors: od.at('splitExternalLocalOriginErrors').optBool(),
      intervalMs: interval,
      baseEjectionTimeMs: base,
      maxEjectionPercent: od.at('maxEjectionPercent').optInt(0, 100),
      minHealthPercent: od.at('minHealthPercent').optInt(0, 100),
    };
  }
  const lb = f.at('loadBalancer');
  if (lb.present) {
    lb.object(['simple', 'consistentHash', 'localityLbSetting', 'warmupDurationSecs', 'warmup']);
    out.lbSimple = lb.at('simple').optOneOf(LB_SIMPLE);
    if (lb.at('localityLbSetting').present) out.locality = parseLocality(lb.at('localityLbSetting'));
    if (lb.at('warmupDurationSecs').present && lb.at('warmup').present) lb.fail('warmupDurationSecs and warmup are mutually exclusive');
    if (lb.at('warmupDurationSecs').present) out.warmup = { durationMs: lb.at('warmupDurationSecs').durationMs(), minimumPercent: 10, aggression: 1 };
    const w = lb.at('warmup');
    if (w.present) {
      w.object(['duration', 'minimumPercent', 'aggression']);
      const aggression = w.at('aggression').present ? w.at('aggression').number() : 1;
      if (aggression < 1) w.at('aggression').fail('aggression must be at least 1');
      const minimumPercent = w.at('minimumPercent').present ? w.at('minimumPercent').number() : 10;
      if (minimumPercent < 0 || minimumPercent > 100) w.at('minimumPercent').fail('minimumPercent must be between 0 and 100');
      out.warmup = { durationMs: w.at('duration').durationMs(), minimumPercent, aggression };
    }
    if (lb.at('consistentHash').present && out.lbSimple) lb.fail('simple and consistentHash are mutually exclusive');
    if (lb.at('consistentHash').present) out.consistentHash = parseConsistentHash(lb.at('consistentHash'));
  }
  const pool = f.at('connectionPool');
  if (pool.present) {
    pool.object(['tcp', 'http']);
    const tcp = pool.at('tcp').optObject(TCP_POOL_FIELDS);
    const http = pool.at('http').optObject(HTTP_POOL_FIELDS);
    if (tcp) {
      out.connectTimeoutMs = tcp.at('connectTimeout').optDurationMs();
      out.maxConnections = tcp.at('maxConnections').optInt(1, UINT32);
    }
    if (http) {
      out.idleTimeoutMs = http.at('idleTimeout').optDurationMs();
      out.http1MaxPendingRequests = http.at('http1MaxPendingRequests').optInt(1, UINT32);
      out.http2MaxRequests = http.at('http2MaxRequests').optInt(1, UINT32);
      out.maxRequestsPerConnection = http.at('maxRequestsPerConnection').optInt(0, UINT32);
      out.maxRetries = http.at('maxRetries').optInt(0, UINT32);
      const upgrade = http.at('h2UpgradePolicy').optOneOf(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] as const);
      if (upgrade === 'UPGRADE') out.h2Upgrade = true;
      else if (upgrade === 'DO_NOT_UPGRADE') out.h2Upgrade = false;
      out.maxConcurrentStreams = http.at('maxConcurrentStreams').optInt(1, UINT32);
      if (http.at('useClientProtocol').optBool()) out.useClientProtocol = true;
    }
    for (const k of Object.keys(out) as (keyof typeof out)[]) if (out[k] === undefined) delete out[k];
    for (const [g, fields] of [[tcp, TCP_POOL_FIELDS], [http, HTTP_POOL_FIELDS]] as const) {
      if (!g) continue;
      for (const k of fields) if (!ENFORCED_POOL.has(k) && g.at(k).present) pending.add(`connectionPool.${g === tcp ? 'tcp' : 'http'}.${k}`);
    }
    if (out.connectTimeoutMs === 0) pool.at('tcp').at('connectTimeout').fail('connectTimeout must be greater than 0');
  }
  return out;
}
