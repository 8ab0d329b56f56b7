import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { DELTA_ADS, SOTW_ADS } from './protocols.js';
import { XdsClient, type XdsClientOptions, type XdsProtocol } from './xds-client.js';

/** Envoy's ads_config api_type: DELTA_GRPC (istiod's default) or GRPC (state of the world, ISTIO_DELTA_XDS=false). */
export type AdsApiType = 'DELTA_GRPC' | 'GRPC';

type AdsRequest = DiscoveryRequest | DeltaDiscoveryRequest;
type AdsResponse = DiscoveryResponse | DeltaDiscoveryResponse;

export interface AdsClientOptions extends XdsClientOptions {
  /** Default DELTA_GRPC. */
  apiType?: AdsApiType;
}

/**
 * The ADS client of a sidecar: one stream to istiod (through pilot-agent's XDS socket) carrying
 * every type. Envoy's order: watch CDS, subscribe EDS to the clusters' service names, then watch
 * LDS and subscribe RDS to the route configurations the listeners name.
 */
export class AdsClient extends XdsClient<AdsRequest, AdsResponse> {
  readonly apiType: AdsApiType;

  constructor(options: AdsClientOptions) {
    const protocol = options.apiType === 'GRPC' ? SOTW_ADS : DELTA_ADS;
    super(options, protocol as unknown as XdsProtocol<AdsRequest, AdsResponse>);
    this.apiType = options.apiType ?? 'DELTA_GRPC';
  }
}
