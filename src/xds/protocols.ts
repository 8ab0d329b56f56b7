import { DeltaTypeState } from './delta-state.js';
import {
  deltaRequestCodec,
  deltaResponseCodec,
  discoveryRequestCodec,
  discoveryResponseCodec,
  XDS_METHODS,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from './messages.js';
import { SotwTypeState } from './sotw-state.js';
import type { XdsProtocol } from './xds-client.js';

/** ADS, incremental: Envoy's api_type DELTA_GRPC (istiod's default). */
export const DELTA_ADS: XdsProtocol<DeltaDiscoveryRequest, DeltaDiscoveryResponse> = {
  method: XDS_METHODS.delta,
  request: deltaRequestCodec,
  response: deltaResponseCodec,
  newState: (typeUrl) => new DeltaTypeState(typeUrl),
};

/** ADS, state of the world: Envoy's api_type GRPC (ISTIO_DELTA_XDS=false). */
export const SOTW_ADS: XdsProtocol<DiscoveryRequest, DiscoveryResponse> = {
  method: XDS_METHODS.sotw,
  request: discoveryRequestCodec,
  response: discoveryResponseCodec,
  newState: (typeUrl) => new SotwTypeState(typeUrl),
};

/** SDS StreamSecrets: the state-of-the-world protocol on its own method. */
export const SOTW_SDS: XdsProtocol<DiscoveryRequest, DiscoveryResponse> = { ...SOTW_ADS, method: XDS_METHODS.sds };
