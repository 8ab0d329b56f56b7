import type { AnyMessage } from '../config/envoy/proto/any.js';

/** One resource as a response carried it: still encoded (the handler decodes what it reads). */
export interface XdsResource {
  name: string;
  /** Delta: the resource's own version; state of the world: the response's version_info. */
  version: string;
  resource: AnyMessage;
}

/**
 * What one accepted-or-rejected response brings to the handler of its type. The handler applies it
 * all or nothing: it either takes every change or throws (a ConfigError or any Error), in which
 * case the response is NACKed, the client keeps its view of what it holds unchanged, and so must
 * the handler (the last good resources stay in force).
 */
export interface ResourceUpdate {
  typeUrl: string;
  /**
   * Resources added or changed. Delta: every resource of the response the subscription wants
   * (heartbeats left out). State of the world: those whose encoded bytes differ from the copy held.
   */
  updated: XdsResource[];
  /**
   * Names of held resources that are gone. Delta: removed_resources (those held). State of the
   * world: for Listener and Cluster, the held names absent from the response; other types never
   * remove by absence (they go when unsubscribed).
   */
  removed: string[];
  /**
   * State of the world only: every wanted resource of the response, changed or not (for Listener
   * and Cluster the whole set the server has for this node).
   */
  all?: XdsResource[];
  /** The response's version_info (state of the world) or system_version_info (delta). */
  systemVersion: string;
  nonce: string;
}

/** An error in the response itself (not in a resource): NACKed like a rejected resource. */
export class XdsProtocolError extends Error {
  override readonly name = 'XdsProtocolError';
}

/** google.rpc.Code INTERNAL: what Envoy puts in a NACK's error_detail, whatever the cause. */
export const NACK_CODE = 13;
const MAX_NACK_MESSAGE = 4096;

/** A NACK's message, cut as Envoy cuts it (gRPC carries it in trailers, whose size is limited). */
export function nackMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > MAX_NACK_MESSAGE ? `${text.slice(0, MAX_NACK_MESSAGE)}...(truncated)` : text;
}
