import { ConfigError } from '../../errors.js';
import type { NodeIdentity, TracingProvider } from '../../snapshot.js';

/**
 * What decoding an xDS resource into the Snapshot knows besides the resource: who this proxy is,
 * and where to say what it noticed. One decode per resource received: a resource that decodes is
 * kept (in the Snapshot's shape) until the control plane replaces or removes it; one that does not
 * makes the whole response a NACK whose error_detail is the ConfigError's message.
 */
export interface DecodeContext {
  node: NodeIdentity;
  /**
   * A field Outrigger does not act on and that decides nothing about security (a stat prefix, a
   * tracing option, an access log it does not write): the resource is accepted and this says so.
   * A field that would decide who may connect or what is allowed, which Outrigger cannot enforce,
   * is an error instead (fail closed): a NACK, never a silent ignore.
   */
  warn(message: string): void;
  /** The bootstrap's tracing.http: the tracer of a connection manager whose tracing names none. */
  tracingProvider?: TracingProvider;
  /** This proxy's service cluster (the bootstrap node's cluster): the spans' service name. */
  serviceCluster?: string;
}

/** The resource a decode error belongs to: its xDS type (`Listener`, `Cluster`, …) and name. */
export interface ResourceRef {
  kind: string;
  name: string;
}

/** A decode error naming the resource and the field (`filter_chains[2].filters[0].typed_config.route_config`). */
export function resourceError(ref: ResourceRef, field: string, reason: string): ConfigError {
  return new ConfigError(reason, { kind: ref.kind, name: ref.name, field: field || undefined });
}

/** Joins a field path: `join('a.b', 2)` → `a.b[2]`, `join('a', 'c')` → `a.c`. */
export function fieldPath(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}
