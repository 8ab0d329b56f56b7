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
import { TYPE_URLS } from './resource-types.js';
import { SotwTypeState } from './sotw-state.js';
import { XdsClient, type ResourceHandler, type WatchOptions, type XdsClientOptions, type XdsProtocol } from './xds-client.js';

/** Envoy's ads_config api_type: DELTA_GRPC (istiod's default) or GRPC (state of the world, ISTIO_DELTA_XDS=false). */
export type AdsApiType = 'DELTA_GRPC' | 'GRPC';

export const DELTA_ADS: XdsProtocol<DeltaDiscoveryRequest, DeltaDiscoveryResponse> = {
  method: XDS_METHODS.delta,
  request: deltaRequestCodec,
  response: deltaResponseCodec,
  newState: (typeUrl) => new DeltaTypeState(typeUrl),
};

export const SOTW_ADS: XdsProtocol<DiscoveryRequest, DiscoveryResponse> = {
  method: XDS_METHODS.sotw,
  request: discoveryRequestCodec,
  response: discoveryResponseCodec,
  newState: (typeUrl) => new SotwTypeState(typeUrl),
};

type AnyRequest = DiscoveryRequest | DeltaDiscoveryRequest;
type AnyResponse = DiscoveryResponse | DeltaDiscoveryResponse;

/**
 * The ADS client of a sidecar: one stream to istiod (through pilot-agent's XDS socket) carrying
 * every type. Typical use: watch CDS, subscribe EDS to the clusters' service names, then watch LDS
 * and subscribe RDS to the routes the listeners name.
 */
export class AdsClient extends XdsClient<AnyRequest, AnyResponse> {
  constructor(options: XdsClientOptions & { apiType?: AdsApiType }) {
    super(options, (options.apiType === 'GRPC' ? SOTW_ADS : DELTA_ADS) as unknown as XdsProtocol<AnyRequest, AnyResponse>);
  }
}

/**
 * The SDS client: SecretDiscoveryService.StreamSecrets (state of the world only, what pilot-agent
 * serves on ./var/run/secrets/workload-spiffe-uds/socket) on its own channel, for the secrets the
 * TLS contexts name: `default`, `ROOTCA`, `file-cert:<cert>~<key>`, `file-root:<ca>`.
 */
export class SdsClient extends XdsClient<DiscoveryRequest, DiscoveryResponse> {
  constructor(options: XdsClientOptions) {
    super(options, { ...SOTW_ADS, method: XDS_METHODS.sds });
  }

  /** Watches Secrets; subscribeSecrets names which. */
  watchSecrets(handler: ResourceHandler, options?: WatchOptions): ReturnType<XdsClient<DiscoveryRequest, DiscoveryResponse>['watch']> {
    return this.watch(TYPE_URLS.secret, handler, options);
  }

  subscribeSecrets(names: Iterable<string>): void {
    this.subscribe(TYPE_URLS.secret, names);
  }
}
