import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel } from '../telemetry/log.js';
import type { ProxyMode } from '../config/snapshot.js';
import type { IdentityFlags } from '../config/node-identity.js';
import { isValidTrustDomain, parseSpiffeId } from '../security/spiffe.js';
import type { OverloadFlags } from '../agent/overload-protection.js';
import { parseDurationMs } from '../config/duration.js';
import type { HttpTimeoutOverrides } from '../config/snapshot.js';
import type { ExplainRequestOptions } from '../explain/request.js';

export const HELP = `outrigger — an Envoy-compatible sidecar proxy for Istio-style service meshes

Usage:
  outrigger run -c <file-or-dir> [-c ...] [options]   run the proxy on Istio YAML
  outrigger validate -c <file-or-dir> [-c ...]        check config; exit 1 with errors
  outrigger explain -c <file-or-dir> --request '<METHOD> <URL>' [options]
  outrigger explain --admin <url> --request '<METHOD> <URL>' [options]
                                                      what the proxy would do with a request (below)
  outrigger proxy-config <type> [--admin <url> | -f <config dump>] [-o short|json|yaml]
                                                      a running proxy's config as istioctl
                                                      proxy-config shows it (below)
  outrigger inject -f <file|-> [-o <file>] [options]  add the Outrigger sidecar to Kubernetes workloads
                                                      (istioctl kube-inject; below)
  outrigger webhook --tls-cert <file> --tls-key <file> [--port 9443] [inject options]
                                                      the mutating admission webhook: POST /inject
                                                      (AdmissionReview v1 → JSONPatch) over HTTPS
  outrigger wait [--url <url>] [--timeout <d>] [--period <d>]
                                                      exit 0 once the proxy is ready (pilot-agent wait:
                                                      a postStart hook holding the app until then)
  outrigger demo [options]                            run the built-in coffee-shop demo mesh
  outrigger ca init|issue [options]                   development CA and workload certificates
  outrigger -c <bootstrap> [Envoy flags]              Envoy's command line (below)
  outrigger --help | --version

Config:
  -c, --config <path>        Istio YAML/JSON file or directory (recursive: *.yaml, *.yml, *.json);
                             repeatable. VirtualService, DestinationRule, ServiceEntry, WorkloadEntry,
                             Gateway, Sidecar (networking.istio.io v1, v1beta1, v1alpha3)

Identity (flags win over Istio's env vars POD_NAMESPACE, SERVICE_ACCOUNT, INSTANCE_IP,
ISTIO_METAJSON_LABELS; ISTIO_METAJSON_ANNOTATIONS gives the pod's sidecar.istio.io/statsInclusion*):
  --mode sidecar|gateway     proxy role (default sidecar)
  --namespace <ns>           workload namespace (default "default")
  --service-account <sa>     workload service account (default "default")
  --label key=value          workload label; repeatable (selects Gateways and Sidecars)
  --trust-domain <domain>    SPIFFE trust domain (default cluster.local)
  --domain-suffix <suffix>   DNS suffix of short service names (default cluster.local)
  --ip <address>             workload IP (default: first non-loopback IPv4 address)
  --locality <r/z/s>         region/zone/subzone for locality load balancing (default: ISTIO_LOCALITY
                             or the topology.kubernetes.io/region|zone, topology.istio.io/subzone labels)

Process:
  --workers <n>              data-plane workers (default: number of cores); one worker runs on the
                             main thread, more on worker threads
  --worker-threads           run even a single worker on its own thread (respawned if it crashes;
                             costs ~25 MiB of memory)
  --log-level <level>        trace|debug|info|warning|error|critical|off (default info)
  --access-log <format>      off|text|json: meshConfig's accessLogFile set to stdout in Istio's
                             text or JSON format, or cleared (default: as meshConfig says; a
                             Telemetry with accessLogging still decides where it applies)
  --drain-duration <secs>    on SIGTERM/SIGINT or POST /quitquitquit: stop accepting, let requests
                             finish, exit when no connection is left or after this (default 5)
  --no-watch                 do not reload when the config files change (SIGHUP still reloads)
  --cert-dir <dir>           the workload's mTLS certificate in Istio's file-mounted layout
                             (cert-chain.pem, key.pem, root-cert.pem; watched, rotated without
                             dropping connections; default: OUTPUT_CERTS, else no mTLS)
  --proxy-config <yaml>      this proxy's ProxyConfig, YAML or JSON, merged over the MeshConfig's
                             defaultConfig field by field (istio-agent's PROXY_CONFIG, where
                             injection puts the proxy.istio.io/config annotation; default:
                             PROXY_CONFIG); applied: gatewayTopology, proxyStatsMatcher
  --credential-dir <dir>     credentials that Gateway servers and DestinationRules name in
                             credentialName: <dir>/<name>/tls.crt, tls.key, ca.crt (a mounted
                             Kubernetes TLS secret; also cert, key, cacert; a MUTUAL server's CA
                             may be in <dir>/<name>-cacert/). Watched and rotated; a missing one
                             skips its server with a warning, a broken rotation keeps the last good
                             copy

Overload protection (Envoy's overload manager and connection limits):
  --max-downstream-connections <n>
                             data-plane connections of the whole process, all listeners and
                             workers together (Envoy's global_downstream_max_connections); more are
                             closed at once (listener.<addr>.downstream_global_cx_overflow).
                             Default: half of RLIMIT_NOFILE after a reserve of 96 descriptors, the
                             other half left for upstream connections; the admin, stats and health
                             ports never count (each holds at most 8 connections)
  --listener-connection-limit [<listener>=]<n>
                             connections of one listener (all listeners without a name); more are
                             closed at once (listener.<addr>.downstream_cx_overflow); repeatable.
                             Envoy's envoy.resource_limits.listener.<name>.connection_limit
  --max-heap-size <MiB>      heap of each worker the fixed_heap monitor measures against (default:
                             the worker's V8 heap limit). At 95% new connections are refused
                             (reject_incoming_connections); at 98% new requests get 503 "envoy
                             overloaded" (flag OM, stop_accepting_requests) and connections stop
                             being kept alive (disable_http_keepalive). Gauges:
                             overload.<action>.active, overload.<monitor>.pressure
  --overload-injected-resource <file>
                             Envoy's injected_resource monitor: a file holding a pressure from 0
                             to 1, read with the heap (to exercise the overload actions)

HTTP stream timeouts (Envoy's HTTP connection manager fields, set on every listener; a duration
such as 500ms, 3s, 5m, 1h; 0 turns the timeout off; default: as istiod configures them):
  --stream-idle-timeout <d>  stream_idle_timeout: a request with no bytes moving either way for
                             this long (a silent upstream, a client that stops reading or never
                             opens its HTTP/2 window) ends: 408, or 504 once the request was
                             complete; reset once the response started; flag SI (default 0: off,
                             as istiod sets it; Envoy's own default is 5m)
  --request-timeout <d>      request_timeout: the whole request must arrive within this (408)
                             (default off)
  --request-headers-timeout <d>
                             request_headers_timeout: an HTTP/1.1 request head must arrive within
                             this from its first byte (408, connection closed) (default off: the
                             HTTP/1.1 codec's own 60s limit)
  --max-stream-duration <d>  common_http_protocol_options.max_stream_duration: a request lasting
                             longer ends (408/504, or reset once the response started) (default off)

Explain a request (without sending it): listener and filter chain, virtual host and route (the
VirtualService rule), HTTP filters (authorization policies evaluated, JWT, faults, CORS, rate
limits), router policies, destination clusters with their endpoints and the host the load
balancer would pick, and the outcome (status and response flag, or the upstream):
  --request '<METHOD> <URL>' the request, e.g. 'GET http://reviews:9080/reviews/0' (a bare URL: GET)
  -H, --header 'name: value' a request header; repeatable
  --direction outbound|inbound|gateway
                             which way it crosses the proxy (default: outbound for a sidecar, as
                             the app's request captured by iptables; gateway for a gateway)
  --source-principal <spiffe id>
                             the client's mTLS identity (inbound: a mesh client; gateway: a client
                             certificate)
  --source-ip <ip>           the client's address (default 10.0.0.1)
  --destination <ip:port>    where the client connects (default: the service address the routes
                             list for the URL's host; inbound: this workload's --ip)
  --protocol HTTP/1.1|HTTP/2 (default HTTP/1.1)
  -o, --output text|json     (default text)
  --admin <url>              ask a running proxy's admin API (its /explain) instead of loading -c:
                             its config in force, its outlier ejections

A proxy's config in istioctl proxy-config's layouts (read from its admin API, or a saved
/config_dump):
  outrigger proxy-config clusters|listeners|routes|endpoints|secrets|bootstrap|all|log
  --admin <url>              the proxy's admin API (default http://127.0.0.1:15000)
  -f, --file <path>          a saved /config_dump (endpoints: a saved /clusters?format=json)
  -o, --output short|json|yaml
                             the table (default), or the resources as Envoy's JSON / YAML
  clusters:  --fqdn <s> --port <n> --subset <s> --direction inbound|outbound
  listeners: --address <ip> --port <n> --type HTTP|TCP|HTTP+TCP
  routes:    --name <route config>
  endpoints: --address <ip> --port <n> --cluster <name> --status <health>
  log:       --level <level> (or --reset): set the proxy's log level, then show it

Sidecar injection (istioctl kube-inject for Outrigger): every pod template of the Kubernetes
YAML (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List; multi-document)
gets the capture init container (Istio's istio-iptables arguments from the pod's
traffic.sidecar.istio.io/* and sidecar.istio.io/interceptionMode annotations, run by the image's
init-iptables) and the istio-proxy sidecar (outrigger run on the mesh ConfigMap, the workload
certificate Secret of its service account); injecting again replaces what was injected;
sidecar.istio.io/inject: "false" and hostNetwork pods are left as they are:
  -f, --file <path|->        the YAML to inject (- : standard input)
  -o, --output <path>        where to write it (default: standard output)
  --image <ref>              the Outrigger image (default outrigger:latest)
  --config-map <name>        the ConfigMap with the mesh's Istio YAML (default outrigger-mesh)
  --cert-secret <name>       the workload certificate Secret, {sa} for the service account
                             (default outrigger-certs-{sa}; made by outrigger ca issue)
  --native-sidecar           the proxy as a native sidecar (an init container with
                             restartPolicy Always); a pod's sidecar.istio.io/nativeSidecar wins

Development CA (Istio's file-mounted certificate layout):
  outrigger ca init --dir <dir> [--trust-domain cluster.local] [--days 3650]
                             create a self-signed root CA: <dir>/ca-cert.pem, ca-key.pem
  outrigger ca issue --ca-dir <dir> --namespace <ns> --service-account <sa> --out <dir>
                     [--trust-domain cluster.local] [--days 1]
                             issue a workload certificate for spiffe://<td>/ns/<ns>/sa/<sa>:
                             <out>/cert-chain.pem, key.pem, root-cert.pem

Envoy's command line (what pilot-agent runs; install outrigger as the proxy binary, e.g. /usr/local/bin/envoy):
  -c, --config-path <file>   Envoy v3 bootstrap: YAML for .yaml/.yml, binary proto for .pb, else JSON
  --config-yaml <yaml>       bootstrap YAML or JSON merged over the file (protobuf MergeFrom: scalars
                             replace, messages merge, lists append)
  --mode serve|validate|init_only
                             validate: load and check the bootstrap, print "configuration '<file>'
                             OK" and exit 0, or the error and exit 1 (default serve)
  --allow-unknown-static-fields
                             unknown bootstrap fields are warnings, not errors
  --reject-unknown-dynamic-fields, --ignore-unknown-dynamic-fields
                             unknown fields in xDS resources: NACK, or ignore (default: warn)
  --concurrency <n>          worker threads (default: number of cores)
  --drain-time-s <s>         how long a drain lasts (default 600; pilot-agent: 45)
  --drain-strategy gradual|immediate
                             immediate: every connection is told to close when the drain starts
  -l, --log-level <level>    trace|debug|info|warning|warn|error|critical|off (default info)
  --component-log-level <c:level,...>
                             validated; there is one process logger, set by -l
  --service-node, --service-cluster, --service-zone <s>
                             override the bootstrap's node id, cluster and locality zone
  --local-address-ip-version v4|v6, --parent-shutdown-time-s <s>, --file-flush-interval-msec <ms>,
  --file-flush-min-size-kb <kb>, --disable-hot-restart, --skip-deprecated-logs, --base-id <n>,
  --restart-epoch 0
                             accepted (nothing to do: no hot restart; the access log is written
                             every event-loop turn)
  --log-format, --log-path, --admin-address-path, --stats-tag, --disable-extensions, ...
                             Envoy's other flags: a warning each, then ignored; unknown flags are
                             errors (exit 1)

Ports:
  --admin-port <port>        admin API on 127.0.0.1 (default 15000)
  --stats-port <port>        Prometheus scrape (default 15090)
  --health-port <port>       /healthz/ready (default 15021)
  --outbound-port <port>     outbound listener (default 15001)
  --inbound-port <port>      inbound listener (default 15006)
  --status-port <port>       pilot-agent's status port (15020 in pods outrigger inject makes; default
                             0: off): /healthz/ready, POST /quitquitquit, and the app probes injection
                             sends there (ISTIO_KUBE_APP_PROBERS), run against the app (INSTANCE_IP)
`;

/** Outrigger's own commands; a command line naming none of them and starting with a flag is Envoy's (cli/envoy-args.ts). */
export const COMMANDS = ['run', 'validate', 'explain', 'proxy-config', 'inject', 'webhook', 'wait', 'demo', 'ca'] as const;

export interface RunFlags {
  command: 'run' | 'validate' | 'explain' | 'proxy-config' | 'inject' | 'webhook' | 'wait' | 'demo' | 'ca' | 'help' | 'version';
  /** Set for `outrigger ca init|issue`. */
  ca?: CaFlags;
  /** Set for `outrigger explain`. */
  explain?: ExplainFlags;
  /** Set for `outrigger proxy-config` (not to be confused with Istio's ProxyConfig, `proxyConfig` below). */
  configView?: ProxyConfigFlags;
  /** Set for `outrigger inject`. */
  inject?: InjectFlags;
  /** Set for `outrigger wait`. */
  wait?: WaitFlags;
  /** Set for `outrigger webhook`. */
  webhook?: WebhookFlags;
  configs: string[];
  identity: IdentityFlags;
  workers: number;
  /** --worker-threads: a single worker on its own thread too, not on the main thread. */
  workerThreads: boolean;
  logLevel: LogLevel;
  /** --access-log; absent: meshConfig's accessLogFile decides. */
  accessLog?: 'off' | 'text' | 'json';
  drainDurationMs: number;
  watch: boolean;
  /** Istio's file-mounted workload certificate directory; absent: no mTLS. */
  certDir?: string;
  /** This proxy's ProxyConfig text (--proxy-config, else PROXY_CONFIG) and which of the two it came from. */
  proxyConfig?: { text: string; source: string };
  /** Directory of credentials named by credentialName (one sub-directory per name). */
  credentialDir?: string;
  /** Connection manager timeouts from the command line; absent fields keep the config's. */
  httpTimeouts: HttpTimeoutOverrides;
  /** pilot-agent's EXIT_ON_ZERO_ACTIVE_CONNECTIONS (Go's strconv.ParseBool true): downstream_cx_active stays among the stats. */
  exitOnZeroActiveConnections: boolean;
  ports: { admin: number; stats: number; health: number; status: number; outbound: number; inbound: number };
  overload: OverloadFlags;
}

export interface ExplainFlags {
  readonly request: ExplainRequestOptions;
  readonly output: 'text' | 'json';
  /** Ask this running proxy's admin API instead of loading config. */
  readonly admin?: string;
}

export interface WebhookFlags {
  readonly certFile: string;
  readonly keyFile: string;
  readonly port: number;
  /** How pods are injected (inject's flags; no input or output file). */
  readonly inject: Omit<InjectFlags, 'file' | 'output'>;
}

export interface WaitFlags {
  /** The readiness URL polled (pilot-agent's default: the health port's /healthz/ready). */
  readonly url: string;
  readonly timeoutMs: number;
  readonly periodMs: number;
}

export interface InjectFlags {
  /** The input file, or `-` for standard input. */
  readonly file: string;
  /** The output file; absent: standard output. */
  readonly output?: string;
  readonly image?: string;
  readonly configMap?: string;
  readonly certSecret?: string;
  readonly nativeSidecar: boolean;
}

/** What `outrigger proxy-config` shows. */
export const PROXY_CONFIG_TYPES = ['clusters', 'listeners', 'routes', 'endpoints', 'secrets', 'bootstrap', 'all', 'log'] as const;
export type ProxyConfigType = (typeof PROXY_CONFIG_TYPES)[number];

/** istioctl's names and aliases of each type. */
const PROXY_CONFIG_ALIASES: Record<string, ProxyConfigType> = {
  cluster: 'clusters', clusters: 'clusters', c: 'clusters',
  listener: 'listeners', listeners: 'listeners', l: 'listeners',
  route: 'routes', routes: 'routes', r: 'routes',
  endpoint: 'endpoints', endpoints: 'endpoints', ep: 'endpoints',
  secret: 'secrets', secrets: 'secrets', s: 'secrets',
  bootstrap: 'bootstrap', b: 'bootstrap',
  all: 'all', a: 'all',
  log: 'log', o: 'log',
};

export interface ProxyConfigFlags {
  readonly type: ProxyConfigType;
  /** The admin API (default http://127.0.0.1:15000), unless `file` is given. */
  readonly admin: string;
  readonly file?: string;
  readonly output: 'short' | 'json' | 'yaml';
  readonly fqdn?: string;
  readonly port?: number;
  readonly subset?: string;
  readonly direction?: string;
  readonly address?: string;
  readonly listenerType?: string;
  readonly name?: string;
  readonly cluster?: string;
  readonly status?: string;
  /** log: the level to set (istioctl's `none` is `off`), or `reset` to Envoy's default for Istio (warning). */
  readonly level?: string;
}

export type CaFlags =
  | { action: 'init'; dir: string; trustDomain: string; days: number }
  | { action: 'issue'; caDir: string; out: string; trustDomain: string; namespace: string; serviceAccount: string; days: number };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPTIONS = {
  config: { type: 'string', short: 'c', multiple: true },
  mode: { type: 'string' },
  namespace: { type: 'string' },
  'service-account': { type: 'string' },
  label: { type: 'string', multiple: true },
  'trust-domain': { type: 'string' },
  'domain-suffix': { type: 'string' },
  ip: { type: 'string' },
  locality: { type: 'string' },
  workers: { type: 'string' },
  'worker-threads': { type: 'boolean' },
  'log-level': { type: 'string' },
  'access-log': { type: 'string' },
  'drain-duration': { type: 'string' },
  'no-watch': { type: 'boolean' },
  'cert-dir': { type: 'string' },
  'proxy-config': { type: 'string' },
  'credential-dir': { type: 'string' },
  'stream-idle-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'request-headers-timeout': { type: 'string' },
  'max-stream-duration': { type: 'string' },
  'admin-port': { type: 'string' },
  'stats-port': { type: 'string' },
  'health-port': { type: 'string' },
  'outbound-port': { type: 'string' },
  'inbound-port': { type: 'string' },
  'status-port': { type: 'string' },
  'max-downstream-connections': { type: 'string' },
  'listener-connection-limit': { type: 'string', multiple: true },
  'max-heap-size': { type: 'string' },
  'overload-injected-resource': { type: 'string' },
  dir: { type: 'string' },
  'ca-dir': { type: 'string' },
  out: { type: 'string' },
  days: { type: 'string' },
  request: { type: 'string' },
  header: { type: 'string', short: 'H', multiple: true },
  direction: { type: 'string' },
  'source-principal': { type: 'string' },
  'source-ip': { type: 'string' },
  destination: { type: 'string' },
  protocol: { type: 'string' },
  output: { type: 'string', short: 'o' },
  admin: { type: 'string' },
  file: { type: 'string', short: 'f' },
  fqdn: { type: 'string' },
  port: { type: 'string' },
  subset: { type: 'string' },
  address: { type: 'string' },
  type: { type: 'string' },
  name: { type: 'string' },
  cluster: { type: 'string' },
  status: { type: 'string' },
  level: { type: 'string' },
  reset: { type: 'boolean' },
  image: { type: 'string' },
  'config-map': { type: 'string' },
  'cert-secret': { type: 'string' },
  'native-sidecar': { type: 'boolean' },
  url: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  timeout: { type: 'string' },
  period: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export function parseCommandLine(argv: readonly string[]): RunFlags {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values: v, positionals } = parsed;
  const command = v.help ? 'help' : v.version ? 'version' : (positionals[0] ?? 'help');
  if (![...COMMANDS, 'help', 'version'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  const ca = command === 'ca' ? parseCaFlags(positionals, v) : undefined;
  for (const flag of CA_ONLY) if (!ca && v[flag] !== undefined) throw new UsageError(`--${flag} is only a flag of "outrigger ca"`);
  // proxy-config and inject check their own flags (some they share with explain)
  const configView = command === 'proxy-config' ? parseProxyConfigFlags(positionals, v) : undefined;
  const inject = command === 'inject' ? parseInjectFlags(positionals, v) : undefined;
  const wait = command === 'wait' ? parseWaitFlags(positionals, v) : undefined;
  const webhook = command === 'webhook' ? parseWebhookFlags(positionals, v) : undefined;
  const ownFlags = configView || inject || wait || webhook;
  if (!ownFlags) {
    for (const [flags, owner] of [[PROXY_CONFIG_ONLY, 'proxy-config'], [INJECT_ONLY, 'inject'], [WAIT_ONLY, 'wait'], [WEBHOOK_ONLY, 'webhook']] as const) {
      for (const flag of flags) if (v[flag] !== undefined) throw new UsageError(`--${flag} is only a flag of "outrigger ${owner}"`);
    }
  }
  if (!ca && !configView && positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const explain = command === 'explain' ? parseExplainFlags(v) : undefined;
  for (const flag of EXPLAIN_ONLY) if (!explain && !ownFlags && v[flag] !== undefined) throw new UsageError(`--${flag} is only a flag of "outrigger explain"`);
  const configs = v.config ?? [];
  if ((command === 'run' || command === 'validate' || (command === 'explain' && !explain?.admin)) && configs.length === 0) {
    throw new UsageError(`${command} needs at least one -c <file-or-dir>${command === 'explain' ? ' (or --admin <url>)' : ''}`);
  }
  if (explain?.admin && configs.length) throw new UsageError('explain takes -c or --admin, not both');
  const mode = v.mode ?? 'sidecar';
  if (mode !== 'sidecar' && mode !== 'gateway') throw new UsageError(`--mode must be sidecar or gateway, got "${mode}"`);
  const logLevel = v['log-level'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const accessLog = v['access-log'] ?? (command === 'demo' ? 'text' : undefined);
  if (accessLog !== undefined && !['off', 'text', 'json'].includes(accessLog)) throw new UsageError(`--access-log must be off, text or json, got "${accessLog}"`);
  const drain = v['drain-duration'] ?? '5';
  const drainSeconds = Number(drain);
  if (!Number.isFinite(drainSeconds) || drainSeconds < 0 || drainSeconds > 3600) throw new UsageError(`--drain-duration must be seconds from 0 to 3600, got "${drain}"`);
  return {
    command: command as RunFlags['command'],
    ...(ca ? { ca } : {}),
    ...(explain ? { explain } : {}),
    ...(configView ? { configView } : {}),
    ...(inject ? { inject } : {}),
    ...(wait ? { wait } : {}),
    ...(webhook ? { webhook } : {}),
    configs,
    identity: {
      mode: mode as ProxyMode,
      namespace: v.namespace,
      serviceAccount: v['service-account'],
      labels: v.label ?? [],
      trustDomain: v['trust-domain'],
      domainSuffix: v['domain-suffix'],
      ip: v.ip,
      locality: v.locality,
    },
    workers: v.workers === undefined ? availableParallelism() : int('--workers', v.workers, 1, 256),
    workerThreads: v['worker-threads'] === true,
    logLevel: logLevel as LogLevel,
    ...(accessLog ? { accessLog: accessLog as 'off' | 'text' | 'json' } : {}),
    drainDurationMs: drainSeconds * 1000,
    watch: !v['no-watch'],
    ...((v['cert-dir'] ?? process.env.OUTPUT_CERTS) ? { certDir: (v['cert-dir'] ?? process.env.OUTPUT_CERTS)! } : {}),
    ...proxyConfigOf(v['proxy-config'], process.env.PROXY_CONFIG),
    ...(v['credential-dir'] ? { credentialDir: v['credential-dir'] } : {}),
    httpTimeouts: httpTimeoutsOf(v),
    exitOnZeroActiveConnections: ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(process.env.EXIT_ON_ZERO_ACTIVE_CONNECTIONS ?? ''),
    ports: {
      admin: port('--admin-port', v['admin-port'], 15000),
      stats: port('--stats-port', v['stats-port'], 15090),
      health: port('--health-port', v['health-port'], 15021),
      outbound: port('--outbound-port', v['outbound-port'], 15001),
      inbound: port('--inbound-port', v['inbound-port'], 15006),
      status: port('--status-port', v['status-port'], 0),
    },
    overload: overloadFlags(v),
  };
}

const MAX_INT32 = 2 ** 31 - 1;

function overloadFlags(v: {
  'max-downstream-connections'?: string;
  'listener-connection-limit'?: string[];
  'max-heap-size'?: string;
  'overload-injected-resource'?: string;
}): OverloadFlags {
  const listenerLimits: Record<string, number> = {};
  for (const text of v['listener-connection-limit'] ?? []) {
    const eq = text.lastIndexOf('=');
    const name = eq < 0 ? '*' : text.slice(0, eq);
    if (!name) throw new UsageError(`--listener-connection-limit must be <n> or <listener>=<n>, got "${text}"`);
    listenerLimits[name] = int('--listener-connection-limit', text.slice(eq + 1), 1, MAX_INT32);
  }
  const heapMiB = v['max-heap-size'];
  return {
    ...(v['max-downstream-connections'] !== undefined
      ? { maxDownstreamConnections: int('--max-downstream-connections', v['max-downstream-connections'], 1, MAX_INT32) }
      : {}),
    listenerLimits,
    ...(heapMiB !== undefined ? { maxHeapBytes: int('--max-heap-size', heapMiB, 1, 1 << 20) * 1024 * 1024 } : {}),
    ...(v['overload-injected-resource'] ? { injectedResourceFile: v['overload-injected-resource'] } : {}),
  };
}

const EXPLAIN_ONLY = ['request', 'header', 'direction', 'source-principal', 'source-ip', 'destination', 'protocol', 'output', 'admin'] as const;

function parseExplainFlags(v: Partial<Record<(typeof EXPLAIN_ONLY)[number], string | string[]>>): ExplainFlags {
  const str = (flag: (typeof EXPLAIN_ONLY)[number]) => v[flag] as string | undefined;
  const request = str('request');
  if (!request) throw new UsageError("explain needs --request '<METHOD> <URL>'");
  const output = str('output') ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be text or json, got "${output}"`);
  const admin = str('admin');
  if (admin !== undefined && !/^https?:\/\//.test(admin)) throw new UsageError(`--admin must be a URL such as http://127.0.0.1:15000, got "${admin}"`);
  const options: ExplainRequestOptions = {
    request,
    headers: (v.header as string[] | undefined) ?? [],
    ...(str('direction') !== undefined ? { direction: str('direction') } : {}),
    ...(str('protocol') !== undefined ? { protocol: str('protocol') } : {}),
    ...(str('source-ip') !== undefined ? { sourceIp: str('source-ip') } : {}),
    ...(str('source-principal') !== undefined ? { sourcePrincipal: str('source-principal') } : {}),
    ...(str('destination') !== undefined ? { destination: str('destination') } : {}),
  };
  return { request: options, output, ...(admin ? { admin } : {}) };
}

const WEBHOOK_ONLY = ['tls-cert', 'tls-key'] as const;

/** `webhook`: its TLS files and port, and inject's settings. */
function parseWebhookFlags(positionals: string[], v: Record<string, unknown>): WebhookFlags {
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  onlyFlags(v, [...WEBHOOK_ONLY, ...INJECT_ONLY, 'port', 'trust-domain'], 'webhook');
  const str = (flag: string): string | undefined => v[flag] as string | undefined;
  const certFile = str('tls-cert');
  const keyFile = str('tls-key');
  if (!certFile || !keyFile) throw new UsageError('webhook needs --tls-cert <file> and --tls-key <file> (the API server only calls HTTPS)');
  return {
    certFile,
    keyFile,
    port: port('--port', str('port'), 9443),
    inject: {
      nativeSidecar: v['native-sidecar'] === true,
      ...(str('image') ? { image: str('image') } : {}),
      ...(str('config-map') ? { configMap: str('config-map') } : {}),
      ...(str('cert-secret') ? { certSecret: str('cert-secret') } : {}),
    },
  };
}

const WAIT_ONLY = ['url', 'timeout', 'period'] as const;

/** `wait`: pilot-agent wait's defaults (60 s, every 500 ms, the health port's readiness). */
function parseWaitFlags(positionals: string[], v: Record<string, unknown>): WaitFlags {
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  onlyFlags(v, WAIT_ONLY, 'wait');
  const duration = (flag: string, dflt: number): number => {
    const text = v[flag] as string | undefined;
    if (text === undefined) return dflt;
    const ms = parseDurationMs(text);
    if (ms === undefined || ms <= 0 || ms > 86_400_000) throw new UsageError(`--${flag} must be a duration such as 500ms or 60s, got "${text}"`);
    return ms;
  };
  const url = (v.url as string | undefined) ?? 'http://127.0.0.1:15021/healthz/ready';
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--url must be an http URL, got "${url}"`);
  return { url, timeoutMs: duration('timeout', 60_000), periodMs: duration('period', 500) };
}

const INJECT_ONLY = ['image', 'config-map', 'cert-secret', 'native-sidecar'] as const;

/** `inject`: its own flags only. */
function parseInjectFlags(positionals: string[], v: Record<string, unknown>): InjectFlags {
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  onlyFlags(v, ['file', 'output', 'trust-domain', ...INJECT_ONLY], 'inject');
  const str = (flag: string): string | undefined => v[flag] as string | undefined;
  const file = str('file');
  if (!file) throw new UsageError('inject needs -f <file> (- for standard input)');
  return {
    file,
    nativeSidecar: v['native-sidecar'] === true,
    ...(str('output') ? { output: str('output') } : {}),
    ...(str('image') ? { image: str('image') } : {}),
    ...(str('config-map') ? { configMap: str('config-map') } : {}),
    ...(str('cert-secret') ? { certSecret: str('cert-secret') } : {}),
  };
}

const PROXY_CONFIG_ONLY = ['file', 'fqdn', 'port', 'subset', 'address', 'type', 'name', 'cluster', 'status', 'level', 'reset'] as const;
/** Each type's filters (istioctl's flags of that subcommand). */
const PROXY_CONFIG_FILTERS: Record<ProxyConfigType, readonly string[]> = {
  clusters: ['fqdn', 'port', 'subset', 'direction'],
  listeners: ['address', 'port', 'type'],
  routes: ['name'],
  endpoints: ['address', 'port', 'cluster', 'status'],
  secrets: [],
  bootstrap: [],
  all: ['fqdn', 'port', 'subset', 'direction', 'address', 'type', 'name', 'cluster', 'status'],
  log: ['level', 'reset'],
};

/** `proxy-config <type>`: its own flags only. */
function parseProxyConfigFlags(positionals: string[], v: Record<string, unknown>): ProxyConfigFlags {
  const given = positionals[1];
  if (!given) throw new UsageError(`proxy-config needs a type: ${PROXY_CONFIG_TYPES.join(', ')}`);
  const type = PROXY_CONFIG_ALIASES[given];
  if (!type) throw new UsageError(`unknown proxy-config type "${given}" (${PROXY_CONFIG_TYPES.join(', ')})`);
  if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}"`);
  onlyFlags(v, ['admin', 'file', 'output', ...PROXY_CONFIG_FILTERS[type]], `proxy-config ${type}`);
  const str = (flag: string): string | undefined => v[flag] as string | undefined;
  const admin = str('admin') ?? 'http://127.0.0.1:15000';
  if (!/^https?:\/\//.test(admin)) throw new UsageError(`--admin must be a URL such as http://127.0.0.1:15000, got "${admin}"`);
  const output = str('output') ?? 'short';
  if (output !== 'short' && output !== 'json' && output !== 'yaml') throw new UsageError(`--output must be short, json or yaml, got "${output}"`);
  if (str('file') && type === 'log') throw new UsageError('proxy-config log reads a running proxy: --file does not apply');
  if (str('level') && v.reset) throw new UsageError('--level cannot be combined with --reset');
  const portText = str('port');
  const port = portText === undefined ? undefined : int('--port', portText, 0, 65535);
  const level = v.reset ? 'warning' : str('level') === 'none' ? 'off' : str('level');
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--level must be one of none, ${LOG_LEVELS.filter((l) => l !== 'off').join(', ')}`);
  return {
    type,
    admin,
    output,
    ...(str('file') ? { file: str('file') } : {}),
    ...(str('fqdn') ? { fqdn: str('fqdn') } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(str('subset') ? { subset: str('subset') } : {}),
    ...(str('direction') ? { direction: str('direction') } : {}),
    ...(str('address') ? { address: str('address') } : {}),
    ...(str('type') ? { listenerType: str('type') } : {}),
    ...(str('name') ? { name: str('name') } : {}),
    ...(str('cluster') ? { cluster: str('cluster') } : {}),
    ...(str('status') ? { status: str('status') } : {}),
    ...(level ? { level } : {}),
  };
}

/** A command that takes its own flags only (and --log-level): any other is a usage error naming it. */
function onlyFlags(v: Record<string, unknown>, allowed: readonly string[], command: string): void {
  for (const [flag, value] of Object.entries(v)) {
    if (value !== undefined && flag !== 'log-level' && !allowed.includes(flag)) throw new UsageError(`--${flag} is not a flag of "outrigger ${command}"`);
  }
}

const CA_ONLY = ['dir', 'ca-dir', 'out', 'days'] as const;
const CA_FLAGS = { init: ['dir', 'trust-domain', 'days'], issue: ['ca-dir', 'out', 'namespace', 'service-account', 'trust-domain', 'days'] };

/** `ca init|issue`: its own flags only (a stray --workers is a mistake, not something to ignore). */
function parseCaFlags(positionals: string[], v: Record<string, unknown>): CaFlags {
  const action = positionals[1];
  if (action !== 'init' && action !== 'issue') throw new UsageError(action ? `unknown ca command "${action}" (init or issue)` : 'ca needs a command: init or issue');
  if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}"`);
  onlyFlags(v, CA_FLAGS[action], `ca ${action}`);
  const str = (flag: string): string | undefined => v[flag] as string | undefined;
  const required = (flag: string): string => {
    const value = str(flag);
    if (!value) throw new UsageError(`ca ${action} needs --${flag}`);
    return value;
  };
  const trustDomain = str('trust-domain') ?? 'cluster.local';
  if (!isValidTrustDomain(trustDomain)) throw new UsageError(`--trust-domain must be a SPIFFE trust domain (a-z 0-9 . - _), got "${trustDomain}"`);
  const daysText = str('days') ?? (action === 'init' ? '3650' : '1');
  const days = Number(daysText);
  if (!Number.isFinite(days) || days <= 0 || days > 36500) throw new UsageError(`--days must be a number of days above 0, up to 36500, got "${daysText}"`);
  if (action === 'init') return { action, dir: required('dir'), trustDomain, days };
  const namespace = required('namespace');
  const serviceAccount = required('service-account');
  if (!parseSpiffeId(`spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`)) {
    throw new UsageError(`--namespace and --service-account must be SPIFFE path segments (A-Z a-z 0-9 . - _), got "${namespace}", "${serviceAccount}"`);
  }
  return { action, caDir: required('ca-dir'), out: required('out'), trustDomain, namespace, serviceAccount, days };
}

/** The flag wins over istio-agent's PROXY_CONFIG variable; an empty one is no ProxyConfig (as istio-agent). */
function proxyConfigOf(flag: string | undefined, env: string | undefined): Pick<RunFlags, 'proxyConfig'> {
  if (flag !== undefined) return flag.trim() ? { proxyConfig: { text: flag, source: '--proxy-config' } } : {};
  return env?.trim() ? { proxyConfig: { text: env, source: 'PROXY_CONFIG' } } : {};
}

/** The flag names of the connection manager timeouts and the field each sets. */
const HTTP_TIMEOUT_FLAGS = {
  'stream-idle-timeout': 'streamIdleTimeoutMs',
  'request-timeout': 'requestTimeoutMs',
  'request-headers-timeout': 'requestHeadersTimeoutMs',
  'max-stream-duration': 'maxStreamDurationMs',
} as const;

function httpTimeoutsOf(v: Partial<Record<keyof typeof HTTP_TIMEOUT_FLAGS, string>>): HttpTimeoutOverrides {
  const out: HttpTimeoutOverrides = {};
  for (const [flag, field] of Object.entries(HTTP_TIMEOUT_FLAGS) as [keyof typeof HTTP_TIMEOUT_FLAGS, keyof HttpTimeoutOverrides][]) {
    const text = v[flag];
    if (text === undefined) continue;
    const ms = parseDurationMs(text);
    // whole milliseconds, up to Node's longest timer (24.8 days)
    if (ms === undefined || ms > 2_147_483_647) throw new UsageError(`--${flag} must be a duration such as 500ms, 3s, 5m or 1h (0: off), got "${text}"`);
    out[field] = Math.ceil(ms);
  }
  return out;
}

function int(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

function port(flag: string, text: string | undefined, dflt: number): number {
  return text === undefined ? dflt : int(flag, text, 0, 65535);
}
