import type { HeaderMutation } from '../../snapshot.js';
import { fieldPath, resourceError, type ResourceRef } from './context.js';

type Msg = Record<string, any>;

/**
 * Envoy's `*_headers_to_add` (HeaderValueOption) and `*_headers_to_remove` as one HeaderMutation:
 * APPEND_IF_EXISTS_OR_ADD (the default, and the deprecated `append: true`) adds,
 * OVERWRITE_IF_EXISTS_OR_ADD (`append: false`) sets. ADD_IF_ABSENT and OVERWRITE_IF_EXISTS, which
 * the router does not do, are refused; so are values with Envoy's `%COMMAND%` substitutions, which
 * it would send literally. An empty value is left out unless keep_empty_value, as in Envoy.
 * Undefined when there is nothing to do.
 */
export function decodeHeaderMutation(add: Msg[] | undefined, remove: string[] | undefined, ref: ResourceRef, field: string, addField: string, removeField: string): HeaderMutation | undefined {
  const out: HeaderMutation = { set: [], add: [], remove: (remove ?? []).map((n) => n.toLowerCase()) };
  (add ?? []).forEach((o, i) => {
    const at = fieldPath(fieldPath(field, addField), i);
    const key = (o.header?.key as string | undefined)?.toLowerCase();
    if (!key) throw resourceError(ref, fieldPath(at, 'header.key'), 'a header needs a key');
    if (o.header.raw_value?.length) throw resourceError(ref, fieldPath(at, 'header.raw_value'), 'raw_value is not supported (use value)');
    const value = (o.header.value as string | undefined) ?? '';
    if (/%[A-Z_]+(\(|%)/.test(value)) throw resourceError(ref, fieldPath(at, 'header.value'), `header value substitutions (${value}) are not supported`);
    // Envoy leaves out a header whose value is empty unless keep_empty_value
    if (value === '' && !o.keep_empty_value) return;
    const action = o.append_action ?? (o.append && o.append.value === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
    if (action === 'APPEND_IF_EXISTS_OR_ADD') out.add.push([key, value]);
    else if (action === 'OVERWRITE_IF_EXISTS_OR_ADD') out.set.push([key, value]);
    else throw resourceError(ref, fieldPath(at, 'append_action'), `${action} is not supported`);
  });
  return out.set.length || out.add.length || out.remove.length ? out : undefined;
}

/** `outer` applied after `inner` (Envoy applies a route's headers, then its virtual host's, then its route configuration's). */
export function mergeHeaderMutations(inner: HeaderMutation | undefined, outer: HeaderMutation | undefined): HeaderMutation | undefined {
  if (!inner) return outer;
  if (!outer) return inner;
  return { set: [...inner.set, ...outer.set], add: [...inner.add, ...outer.add], remove: [...inner.remove, ...outer.remove] };
}
