import type { HeaderMutation } from '../../../config/snapshot.js';
import { Field } from '../../../config/reader.js';
import { describeHeaderMutation } from '../../../router/headers.js';
import { HEADER_MUTATION_FILTER } from '../../../config/envoy/http-filters.js';
import { FilterStatus, type HttpFilterFactory, type HttpFilter, type RequestHeaders, type ResponseHeaders } from '../../../http/filter.js';

export const HEADER_MUTATION_FILTER_NAME = HEADER_MUTATION_FILTER;

export interface HeaderMutationConfig {
  request: HeaderMutation;
  response: HeaderMutation;
}

type Headers = RequestHeaders | ResponseHeaders;

/**
 * envoy.filters.http.header_mutation: edits request headers on the way up and response headers on
 * the way down. Config mirrors Envoy's `mutations.{request,response}_mutations` list of `append`
 * (header {key, value}, append_action) or `remove`.
 */
export const headerMutationFilter: HttpFilterFactory<HeaderMutationConfig> = {
  name: HEADER_MUTATION_FILTER_NAME,
  parse(raw) {
    const root = new Field(raw, [], { kind: HEADER_MUTATION_FILTER_NAME }).object(['mutations']);
    const m = root.at('mutations').object(['request_mutations', 'response_mutations']);
    return { request: parseMutations(m.at('request_mutations')), response: parseMutations(m.at('response_mutations')) };
  },
  create(cfg) {
    const filter: HttpFilter = {
      decodeHeaders(req) {
        apply(req, cfg.request);
        return FilterStatus.Continue;
      },
      encodeHeaders(res) {
        apply(res, cfg.response);
        return FilterStatus.Continue;
      },
    };
    return () => filter; // stateless: one object serves every stream
  },
  explain(cfg, stream) {
    apply(stream.request, cfg.request);
    const notes = (['request', 'response'] as const).flatMap((side) => {
      const edits = describeHeaderMutation(cfg[side]);
      return edits ? [`${side}: ${edits}`] : [];
    });
    return { notes: notes.length ? notes : ['no header edits'] };
  },
};

function apply(h: Headers, m: HeaderMutation): void {
  for (const name of m.remove) h.remove(name);
  for (const [k, v] of m.set) h.set(k, v);
  for (const [k, v] of m.add) h.add(k, v);
}

function parseMutations(f: Field): HeaderMutation {
  const out: HeaderMutation = { set: [], add: [], remove: [] };
  for (const item of f.optList()) {
    item.object(['append', 'remove']);
    if (item.at('remove').present) {
      out.remove.push(item.at('remove').nonEmptyString().toLowerCase());
      continue;
    }
    const append = item.at('append').object(['header', 'append_action', 'keep_empty_value']);
    const header = append.at('header').object(['key', 'value']);
    const pair: [string, string] = [header.at('key').nonEmptyString().toLowerCase(), header.at('value').optString() ?? ''];
    const action = append.at('append_action').optOneOf(['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'] as const) ?? 'APPEND_IF_EXISTS_OR_ADD';
    if (action === 'APPEND_IF_EXISTS_OR_ADD') out.add.push(pair);
    else if (action === 'OVERWRITE_IF_EXISTS_OR_ADD') out.set.push(pair);
    else append.at('append_action').fail(`${action} is not supported yet`);
  }
  return out;
}
