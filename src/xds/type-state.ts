import type { ResourceUpdate } from './update.js';

/**
 * The protocol state of one resource type on an xDS stream (Envoy's SubscriptionState): what is
 * subscribed, what is held, and the requests that follow from them. Pure: no I/O, no timers; the
 * client drives it and sends what it returns.
 */
export interface TypeState<Req, Res> {
  readonly typeUrl: string;
  /** The subscribed names (always empty for a wildcard type). */
  names(): ReadonlySet<string>;
  /** Replaces the subscribed names of a non-wildcard type; true when the set changed. Names dropped are forgotten. */
  setNames(names: Iterable<string>): boolean;
  /** A new stream: the next request is the initial one (every subscription, and what is held). */
  markStreamFresh(): void;
  /**
   * The request to send now, if any: the initial request of a fresh stream, or (later) one
   * carrying a change of subscription. Never an ACK.
   */
  pendingRequest(): Req | undefined;
  /**
   * Checks a response and computes what it changes. Throws an XdsProtocolError on a response
   * that breaks the protocol (NACKed). Undefined: the response holds nothing this subscription
   * wants (ACKed without calling the handler, as Envoy does for RDS/EDS).
   */
  prepare(response: Res): ResourceUpdate | undefined;
  /** The handler took the update: commit it and give the ACK. */
  accept(response: Res, update: ResourceUpdate | undefined): Req;
  /** The update was rejected: nothing changes; give the NACK. */
  reject(response: Res, message: string): Req;
}

/**
 * The change a new name list makes to a subscription; undefined when there is none (or the type is
 * a wildcard, which has no names).
 */
export function nameChange(wildcard: boolean, from: ReadonlySet<string>, names: Iterable<string>): { next: Set<string>; added: string[]; removed: string[] } | undefined {
  if (wildcard) return undefined;
  const next = new Set(names);
  const added = [...next].filter((n) => !from.has(n));
  const removed = [...from].filter((n) => !next.has(n));
  return added.length || removed.length ? { next, added, removed } : undefined;
}
