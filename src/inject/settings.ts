/**
 * What sidecar injection reads besides the pod: the values of Istio's sidecar injector chart and
 * the mesh defaults that shape the injected containers. Istio's defaults unless a caller (the CLI's
 * flags, a mesh config) says otherwise.
 */

/** Istio's interception modes (`sidecar.istio.io/interceptionMode`, ProxyConfig interceptionMode). */
export type InterceptionMode = 'REDIRECT' | 'TPROXY' | 'NONE';

export interface InjectionSettings {
  /** meshConfig.defaultConfig.interceptionMode. */
  readonly interceptionMode: InterceptionMode;
  /** values.global.proxy.includeIPRanges / excludeIPRanges: outbound CIDRs captured / not. */
  readonly includeIPRanges: string;
  readonly excludeIPRanges: string;
  /** values.global.proxy.includeInboundPorts / excludeInboundPorts. */
  readonly includeInboundPorts: string;
  readonly excludeInboundPorts: string;
  /** values.global.proxy.includeOutboundPorts / excludeOutboundPorts. */
  readonly includeOutboundPorts: string;
  readonly excludeOutboundPorts: string;
  /** values.global.proxy.statusPort: the agent's health port, never captured (0: none). */
  readonly statusPort: number;
  /** values.global.logging.level, the init container's --log_output_level. */
  readonly logLevel: string;
  readonly logAsJson: boolean;
  /** components.cni.enabled: the CNI plugin installs the rules; the init container only validates them. */
  readonly cni: boolean;
  /** values.global.proxy_init.forceApplyIptables / values.global.nativeNftables. */
  readonly forceApplyIptables: boolean;
  readonly nativeNftables: boolean;
  /** meshConfig.proxyListenPort / proxyInboundListenPort. */
  readonly outboundPort: number;
  readonly inboundPort: number;
  /** The proxy's uid (OpenShift: the namespace's range). */
  readonly proxyUid: number;
  /** meshConfig.defaultConfig.holdApplicationUntilProxyStarts: the app containers start once the proxy is ready. */
  readonly holdApplicationUntilProxyStarts: boolean;
}

/** Istio's chart and mesh defaults. */
export const ISTIO_INJECTION_DEFAULTS: InjectionSettings = Object.freeze({
  interceptionMode: 'REDIRECT',
  includeIPRanges: '*',
  excludeIPRanges: '',
  includeInboundPorts: '*',
  excludeInboundPorts: '',
  includeOutboundPorts: '',
  excludeOutboundPorts: '',
  statusPort: 15020,
  logLevel: 'default:info',
  logAsJson: false,
  cni: false,
  forceApplyIptables: false,
  nativeNftables: false,
  outboundPort: 15001,
  inboundPort: 15006,
  proxyUid: 1337,
  holdApplicationUntilProxyStarts: false,
});
