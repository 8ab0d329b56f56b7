import { ENVOY_RESPONSE_FLAGS } from '../common/envoy-response-flags.js';

/** Envoy's short response flags, as access logs and the `response_flags` metric label show them. */
export const ResponseFlag = {
  NoRouteFound: 'NR',
  NoHealthyUpstream: 'UH',
  UpstreamConnectionFailure: 'UF',
  UpstreamConnectionTermination: 'UC',
  UpstreamRemoteReset: 'UR',
  UpstreamProtocolError: 'UPE',
  UpstreamOverflow: 'UO',
  UpstreamRequestTimeout: 'UT',
  UpstreamRetryLimitExceeded: 'URX',
  NoClusterFound: 'NC',
  DownstreamConnectionTermination: 'DC',
  DelayInjected: 'DI',
  FaultInjected: 'FI',
  RateLimited: 'RL',
  UnauthorizedExternalService: 'UAEX',
  DownstreamProtocolError: 'DPE',
  OverloadManager: 'OM',
  StreamIdleTimeout: 'SI',
} as const;

export type ResponseFlagValue = (typeof ResponseFlag)[keyof typeof ResponseFlag];


/** `-` for none, else Envoy's order (ENVOY_RESPONSE_FLAGS). */
export function formatResponseFlags(flags: readonly string[]): string {
  if (flags.length === 0) return '-';
  if (flags.length === 1) return flags[0];
  return [...flags].sort((a, b) => ENVOY_RESPONSE_FLAGS.indexOf(a) - ENVOY_RESPONSE_FLAGS.indexOf(b)).join(',');
}

/** Adds a flag to a request's flags, once. */
export function addResponseFlag(info: { responseFlags: ResponseFlagValue[] }, flag: ResponseFlagValue): void {
  if (!info.responseFlags.includes(flag)) info.responseFlags.push(flag);
}
