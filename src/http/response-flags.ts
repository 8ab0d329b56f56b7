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
} as const;

export type ResponseFlagValue = (typeof ResponseFlag)[keyof typeof ResponseFlag];
