/**
 * A route's (or virtual host's) rate_limits compiled once, at load (Envoy's RateLimitPolicyEntry
 * and its actions, router_ratelimit.cc): each policy makes one descriptor of a request from its
 * actions in order. The rate limit filters read them through CompiledRoute.
 */
import { isPipeAddress, plainAddress } from '../common/address.js';
import { compileCelValue } from '../common/cel.js';
import type { LogContext } from '../common/log-context.js';
import type { RateLimitAction, RateLimitPolicy } from '../config/envoy/local-ratelimit.js';
import type { HeaderMatcher } from '../config/snapshot.js';
import { compileHeaderValueTest } from './match.js';

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

/** A request's descriptor: its entries in the order the actions made them. */
export type RateLimitDescriptor = readonly DescriptorEntry[];

/** What the actions read of the request in progress (Envoy's request headers and StreamInfo). */
export interface DescriptorSource {
  /** A request header's first value; :path, :method, :authority and :scheme too. undefined: absent. */
  header(name: string): string | undefined;
  /** A header's values joined with ',' (what Envoy's header matchers test); pseudo-headers too. */
  joinedHeader(name: string): string | undefined;
  /** The trusted client address (StreamInfo's downstream remote address), without a port. */
  readonly remoteAddress: string;
  /** The cluster the route picked for this request. */
  readonly destinationCluster: string | undefined;
  /** This proxy's service cluster (Envoy's local_info cluster name); undefined when not known. */
  readonly localServiceCluster: string | undefined;
  /** The request as a CEL expression reads it (built on first call). */
  logContext(): LogContext;
}

/** An action that adds nothing and lets the policy go on (skip_if_absent, skip_if_error). */
const SKIP = Symbol('skip');

/** An action's entry; SKIP; or undefined: the policy makes no descriptor for this request. */
type ActionResult = DescriptorEntry | typeof SKIP | undefined;
type CompiledAction = (src: DescriptorSource) => ActionResult;

export interface CompiledRateLimitPolicy {
  readonly stage: number;
  /** The policy's descriptor for the request, or undefined when one of its actions has no value. */
  descriptor(src: DescriptorSource): RateLimitDescriptor | undefined;
}

/** Compiles a rate_limits list; undefined when it is empty. Throws CelError for a bad expression. */
export function compileRateLimitPolicies(list: readonly RateLimitPolicy[] | undefined): readonly CompiledRateLimitPolicy[] | undefined {
  if (!list?.length) return undefined;
  return list.map(compilePolicy);
}

function compilePolicy(p: RateLimitPolicy): CompiledRateLimitPolicy {
  const actions = p.actions.map(compileAction);
  return {
    stage: p.stage,
    descriptor(src) {
      const entries: DescriptorEntry[] = [];
      for (const act of actions) {
        const r = act(src);
        if (r === undefined) return undefined;
        if (r !== SKIP) entries.push(r);
      }
      return entries;
    },
  };
}

function compileAction(a: RateLimitAction): CompiledAction {
  if ('requestHeaders' in a) return requestHeaders(a.requestHeaders);
  if ('remoteAddress' in a) return remoteAddress;
  if ('genericKey' in a) return genericKey(a.genericKey);
  if ('headerValueMatch' in a) return headerValueMatch(a.headerValueMatch);
  if ('destinationCluster' in a) return destinationCluster;
  if ('sourceCluster' in a) return sourceCluster;
  return expression(a.expression);
}

/** The header's first value (Envoy takes the first of repeated headers); absent: skip or no descriptor. */
function requestHeaders(a: { headerName: string; descriptorKey: string; skipIfAbsent: boolean }): CompiledAction {
  const name = a.headerName.toLowerCase();
  const key = a.descriptorKey;
  const absent = a.skipIfAbsent ? SKIP : undefined;
  return (src) => {
    const value = src.header(name);
    return value === undefined ? absent : { key, value };
  };
}

/** Envoy: only an IP address makes an entry (a unix socket peer does not). */
function remoteAddress(src: DescriptorSource): ActionResult {
  const a = src.remoteAddress;
  if (!a || isPipeAddress(a)) return undefined;
  return { key: 'remote_address', value: plainAddress(a) };
}

function genericKey(a: { descriptorValue: string; descriptorKey: string }): CompiledAction {
  const entry = { key: a.descriptorKey || 'generic_key', value: a.descriptorValue };
  return () => entry;
}

/** An entry when every header matcher passes (expectMatch) or when not all do (!expectMatch). */
function headerValueMatch(a: { descriptorKey: string; descriptorValue: string; expectMatch: boolean; headers: HeaderMatcher[] }): CompiledAction {
  const tests = a.headers.map((h) => ({ name: h.name.toLowerCase(), test: compileHeaderValueTest(h) }));
  const entry = { key: a.descriptorKey || 'header_match', value: a.descriptorValue };
  return (src) => {
    let all = true;
    for (const t of tests) {
      if (!t.test(src.joinedHeader(t.name))) {
        all = false;
        break;
      }
    }
    return all === a.expectMatch ? entry : undefined;
  };
}

function destinationCluster(src: DescriptorSource): ActionResult {
  const c = src.destinationCluster;
  return c === undefined ? undefined : { key: 'destination_cluster', value: c };
}

/** Envoy's local_info cluster name; unknown here (no service cluster given): no descriptor. */
function sourceCluster(src: DescriptorSource): ActionResult {
  const c = src.localServiceCluster;
  return c === undefined ? undefined : { key: 'source_cluster', value: c };
}

/** The rate_limit_descriptors.expr extension: the value printed; an error (or no value) skips or cancels. */
function expression(a: { descriptorKey: string; text: string; skipIfError: boolean }): CompiledAction {
  const evaluate = compileCelValue(a.text);
  const key = a.descriptorKey;
  const failed = a.skipIfError ? SKIP : undefined;
  return (src) => {
    const value = evaluate(src.logContext());
    return value === undefined ? failed : { key, value };
  };
}
