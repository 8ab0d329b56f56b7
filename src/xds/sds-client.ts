import type { DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { SOTW_SDS } from './protocols.js';
import { TYPE_URLS } from './resource-types.js';
import type { SubscriptionStats } from './stats.js';
import { XdsClient, type ResourceHandler, type WatchOptions, type XdsClientOptions } from './xds-client.js';

/**
 * The SDS client: SecretDiscoveryService.StreamSecrets (state of the world only: what pilot-agent
 * serves on ./var/run/secrets/workload-spiffe-uds/socket) on its own channel, for the secrets the
 * TLS contexts name: `default`, `ROOTCA`, `file-cert:<cert>~<key>`, `file-root:<ca>`. A rotation is
 * a push of the same name with new content (ResourceUpdate.updated).
 */
export class SdsClient extends XdsClient<DiscoveryRequest, DiscoveryResponse> {
  constructor(options: XdsClientOptions) {
    super(options, SOTW_SDS);
  }

  /** Watches Secrets; subscribeSecrets names which. */
  watchSecrets(handler: ResourceHandler, options?: WatchOptions): SubscriptionStats {
    return this.watch(TYPE_URLS.secret, handler, options);
  }

  subscribeSecrets(names: Iterable<string>): void {
    this.subscribe(TYPE_URLS.secret, names);
  }
}
