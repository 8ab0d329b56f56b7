import { compressIp } from '../common/address.js';

/**
 * The trusted client address a connection manager derives from x-forwarded-for (Envoy's
 * ConnectionManagerUtility::mutateRequestHeaders with its default XFF detection), which becomes
 * Envoy's downstream remote address: RBAC remote_ip (Istio `remote.ip`, `remoteIpBlocks`),
 * x-envoy-external-address, %DOWNSTREAM_REMOTE_ADDRESS%, source-IP hashing.
 *
 * `xff` is the header as the request brought it (repeated headers joined with ","), before this
 * proxy appends anything. With N = xff_num_trusted_hops:
 * - use_remote_address true: N = 0 → the connection peer; N > 0 → the Nth address from the right;
 * - use_remote_address false: the (N+1)th address from the right (the last one when N = 0).
 * Undefined (the connection peer is the address) when there is no XFF, it has too few entries, or
 * the chosen entry is not an IP address.
 */
export function xffClientAddress(xff: string | undefined, useRemoteAddress: boolean, trustedHops: number): string | undefined {
  if (xff === undefined) return undefined;
  if (!useRemoteAddress) return lastXffAddress(xff, trustedHops);
  return trustedHops > 0 ? lastXffAddress(xff, trustedHops - 1) : undefined;
}

/** HTTP list whitespace Envoy trims around an entry (StringUtil::ltrim/rtrim). */
const EDGE_SPACE = /^[ \t\f\v\r\n]+|[ \t\f\v\r\n]+$/g;

/**
 * Envoy's Utility::getLastAddressFromXFF: drop `skip` entries from the right, take the text after
 * the last remaining comma (the whole text when there is none or nothing follows it), trim it, and
 * parse it as an IP address (no port, no brackets). Returned in one spelling (IPv6 compressed).
 */
export function lastXffAddress(xff: string, skip: number): string | undefined {
  let end = xff.length;
  for (let i = 0; i < skip; i++) {
    const comma = end > 0 ? xff.lastIndexOf(',', end - 1) : -1;
    if (comma < 0) return undefined;
    end = comma;
  }
  const comma = end > 0 ? xff.lastIndexOf(',', end - 1) : -1;
  const start = comma >= 0 && comma + 1 < end ? comma + 1 : 0;
  return compressIp(xff.slice(start, end).replace(EDGE_SPACE, ''));
}
