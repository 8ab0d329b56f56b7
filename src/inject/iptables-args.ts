/**
 * The capture init container's command line, as Istio's injection template writes it for
 * `istio-iptables` (pilot-agent's subcommand in Istio's proxy image): the capture ports, the
 * proxy's uid, the interception mode, and what the pod's `traffic.sidecar.istio.io/*` annotations
 * include or exclude, over the injection settings. Outrigger's `init-iptables` takes the same
 * capture flags (-p -z -u -m -i -x -b -d -q -o -k -c); the subcommand word and the log and CNI
 * validation flags are istio-iptables' own.
 */
import { parse as parseYaml } from 'yaml';
import type { InjectionSettings, InterceptionMode } from './settings.js';

/** The pod annotations injection reads. */
export const ANNOTATION = {
  interceptionMode: 'sidecar.istio.io/interceptionMode',
  includeOutboundIPRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  excludeOutboundIPRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  includeOutboundPorts: 'traffic.sidecar.istio.io/includeOutboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  kubevirtInterfaces: 'traffic.sidecar.istio.io/kubevirtInterfaces',
  rerouteVirtualInterfaces: 'istio.io/reroute-virtual-interfaces',
  excludeInterfaces: 'traffic.sidecar.istio.io/excludeInterfaces',
  statusPort: 'status.sidecar.istio.io/port',
  agentLogLevel: 'sidecar.istio.io/agentLogLevel',
  proxyConfig: 'proxy.istio.io/config',
  templates: 'inject.istio.io/templates',
} as const;

/**
 * The injection templates a pod asks for (`inject.istio.io/templates`, default `sidecar`): only the
 * sidecar template captures traffic (gateway, grpc-agent, grpc-simple and custom ones do not).
 */
export function injectionTemplates(annotations: Annotations): string[] {
  const t = annotations[ANNOTATION.templates];
  return t === undefined ? ['sidecar'] : t.split(',').map((x) => x.trim()).filter(Boolean);
}

/** The pod gets a capture init container: the sidecar template, and an interception mode other than NONE. */
export function capturesTraffic(annotations: Annotations, settings: InjectionSettings): boolean {
  return injectionTemplates(annotations).includes('sidecar') && interceptionModeOf(annotations, settings) !== 'NONE';
}

type Annotations = Readonly<Record<string, string>>;

/** The fields of the pod's ProxyConfig annotation (`proxy.istio.io/config`, YAML or JSON) injection reads. */
export function podProxyConfig(annotations: Annotations): { interceptionMode?: string; holdApplicationUntilProxyStarts?: boolean } {
  const text = annotations[ANNOTATION.proxyConfig];
  if (!text) return {};
  const v = parseYaml(text) as Record<string, unknown> | null;
  return v && typeof v === 'object' ? v : {};
}

/** The interception mode: the pod's annotation, else its ProxyConfig annotation's, else the mesh's. */
export function interceptionModeOf(annotations: Annotations, settings: InjectionSettings): InterceptionMode {
  const own = annotations[ANNOTATION.interceptionMode];
  if (own !== undefined) return own as InterceptionMode;
  return (podProxyConfig(annotations).interceptionMode as InterceptionMode | undefined) || settings.interceptionMode;
}

/**
 * Istio's excludeInboundPort: the status port joins the excluded inbound ports unless it is there
 * already (or is 0 / empty).
 */
export function excludeInboundPort(statusPort: string, excluded: string): string {
  const port = statusPort.trim();
  if (!port || port === '0') return excluded;
  const ports: string[] = [];
  for (const p of excluded.split(',')) {
    if (p === port) return excluded;
    if (p.trim()) ports.push(p.trim());
  }
  ports.push(port);
  return ports.join(',');
}

/**
 * The arguments of the capture init container (`istio-iptables ...`). `proxyRunAsUser`: the
 * runAsUser of an istio-proxy container the pod itself supplies (its override); the rules then
 * exempt that uid instead (Istio's adjustInitContainerUser; 0 changes nothing).
 */
export function istioIptablesArgs(annotations: Annotations, settings: InjectionSettings, proxyRunAsUser?: number): string[] {
  const a = (name: string, fallback: string) => annotations[name] ?? fallback;
  const mode = interceptionModeOf(annotations, settings);
  const excluded = excludeInboundPort(a(ANNOTATION.statusPort, String(settings.statusPort)), a(ANNOTATION.excludeInboundPorts, settings.excludeInboundPorts));
  const args = [
    'istio-iptables',
    '-p', String(settings.outboundPort),
    '-z', String(settings.inboundPort),
    '-u', proxyRunAsUser ? String(proxyRunAsUser) : mode === 'TPROXY' ? '1337' : String(settings.proxyUid),
    '-m', mode,
    '-i', a(ANNOTATION.includeOutboundIPRanges, settings.includeIPRanges),
    '-x', a(ANNOTATION.excludeOutboundIPRanges, settings.excludeIPRanges),
    '-b', a(ANNOTATION.includeInboundPorts, settings.includeInboundPorts),
    // the proxy's own ports are never captured: Prometheus (15090), health (15021), the agent's status port
    '-d', excluded ? `15090,15021,${excluded}` : '15090,15021',
  ];
  if (ANNOTATION.includeOutboundPorts in annotations || settings.includeOutboundPorts) args.push('-q', a(ANNOTATION.includeOutboundPorts, settings.includeOutboundPorts));
  if (ANNOTATION.excludeOutboundPorts in annotations || settings.excludeOutboundPorts) args.push('-o', a(ANNOTATION.excludeOutboundPorts, settings.excludeOutboundPorts));
  const virtual = annotations[ANNOTATION.rerouteVirtualInterfaces] ?? annotations[ANNOTATION.kubevirtInterfaces];
  if (virtual !== undefined) args.push('-k', virtual);
  if (ANNOTATION.excludeInterfaces in annotations) args.push('-c', annotations[ANNOTATION.excludeInterfaces]);
  args.push(`--log_output_level=${a(ANNOTATION.agentLogLevel, settings.logLevel)}`);
  if (settings.logAsJson) args.push('--log_as_json');
  if (settings.cni) args.push('--run-validation', '--skip-rule-apply');
  else if (settings.forceApplyIptables) args.push('--force-apply');
  if (settings.nativeNftables) args.push('--native-nftables');
  return args;
}
