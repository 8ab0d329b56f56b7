import { messageType } from '../proto/registry.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';

/**
 * What a decoder does with each field of one message type: the fields it `reads`; the fields it
 * accepts without acting on them, each with why that is safe (`ignored`: a warning); every other
 * field that is set is refused, naming it (fail closed: a field Outrigger has not considered may
 * change who is trusted or where traffic goes).
 */
export interface FieldPolicy {
  /** The message's full name (`envoy.config.cluster.v3.Cluster`): its oneof names are not fields. */
  type: string;
  reads: readonly string[];
  ignored?: Readonly<Record<string, string>>;
  /** Why the fields not listed are refused, when something better than "not supported" can be said. */
  refused?: Readonly<Record<string, string>>;
}

interface CompiledPolicy {
  reads: Set<string>;
  oneofs: Set<string>;
}

const compiled = new WeakMap<FieldPolicy, CompiledPolicy>();

function compile(policy: FieldPolicy): CompiledPolicy {
  let c = compiled.get(policy);
  if (!c) {
    const type = messageType(policy.type);
    for (const name of [...policy.reads, ...Object.keys(policy.ignored ?? {}), ...Object.keys(policy.refused ?? {})]) {
      if (!type.fields[name]) throw new Error(`${policy.type} has no field ${name}`); // a typo in a policy, not bad config
    }
    c = { reads: new Set(policy.reads), oneofs: new Set(type.oneofsArray.map((o) => o.name)) };
    compiled.set(policy, c);
  }
  return c;
}

/** A value that is its field's default, as proto3 JSON may spell it out (the wire form omits it). */
function isDefault(v: unknown): boolean {
  return v === undefined || v === false || v === 0 || v === '' || v === '0' || (Array.isArray(v) && v.length === 0);
}

/**
 * Checks the fields set on `msg` against `policy`: warns through ctx for the ignored ones, throws a
 * resourceError naming the first refused one (`path` is where `msg` sits in the resource).
 */
export function checkFields(msg: object, policy: FieldPolicy, ref: ResourceRef, path: string, ctx: DecodeContext): void {
  const c = compile(policy);
  for (const [name, value] of Object.entries(msg)) {
    if (c.reads.has(name) || c.oneofs.has(name) || isDefault(value)) continue;
    const field = fieldPath(path, name);
    const ignored = policy.ignored?.[name];
    if (ignored !== undefined) {
      ctx.warn(`${ref.kind} ${ref.name}: ${field} is not applied (${ignored})`);
      continue;
    }
    throw resourceError(ref, field, policy.refused?.[name] ?? 'not supported by Outrigger (refused rather than ignored)');
  }
}
