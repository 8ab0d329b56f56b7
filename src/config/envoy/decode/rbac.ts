/**
 * envoy.extensions.filters.{http,network}.rbac.v3.RBAC in the plain form → config/envoy/rbac.ts's
 * shapes (the protos' JSON form), every Permission and Principal kind istiod emits. A kind the RBAC
 * engine (security/authz/rbac.ts) does not evaluate is refused, never dropped: a dropped rule would
 * widen an ALLOW or narrow a DENY.
 */
import type { CidrRange, HeaderMatcher, MetadataMatcher, Permission, Principal, Policy, Rbac, RbacFilterConfig, StringMatcher, ValueMatcher } from '../rbac.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeRegex, decodeStringMatcher, type StringMatcherMessage } from './matchers.js';
import { typedConfigOf } from './typed-config.js';

type Msg = Record<string, any>;

/** The filter state key istiod's istio_authn network filter publishes the mTLS peer's principal under. */
const PEER_PRINCIPAL_KEY = 'io.istio.peer_principal';

const NO_MATCHER = 'the RBAC matcher API is not supported (rules and shadow_rules are)';
const HTTP_RBAC: FieldPolicy = {
  type: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  reads: ['rules', 'shadow_rules', 'shadow_rules_stat_prefix'],
  ignored: { rules_stat_prefix: 'RBAC stats keep their default names', track_per_rule_stats: 'per-rule stats are not kept' },
  refused: { matcher: NO_MATCHER, shadow_matcher: NO_MATCHER },
};
const NETWORK_RBAC: FieldPolicy = {
  type: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  // enforcement_type: ONE_TIME_ON_FIRST_BYTE (the default) is what Outrigger does; CONTINUOUS is refused below
  reads: ['rules', 'shadow_rules', 'shadow_rules_stat_prefix', 'stat_prefix', 'enforcement_type'],
  refused: { matcher: NO_MATCHER, shadow_matcher: NO_MATCHER },
};
const RBAC: FieldPolicy = { type: 'envoy.config.rbac.v3.RBAC', reads: ['action', 'policies'], ignored: { audit_logging_options: 'RBAC audit logs are not written' } };
const POLICY: FieldPolicy = { type: 'envoy.config.rbac.v3.Policy', reads: ['permissions', 'principals'], refused: { condition: 'CEL conditions are not supported', checked_condition: 'CEL conditions are not supported' } };

/** The HTTP or network RBAC filter's config. */
export function decodeRbacFilter(m: Msg, kind: 'http' | 'network', ctx: DecodeContext, ref: ResourceRef, field: string): RbacFilterConfig {
  checkFields(m, kind === 'http' ? HTTP_RBAC : NETWORK_RBAC, ref, field, ctx);
  if (kind === 'network' && m.enforcement_type === 'CONTINUOUS') throw resourceError(ref, fieldPath(field, 'enforcement_type'), 'CONTINUOUS enforcement is not supported (Outrigger checks once, at connection start)');
  const out: RbacFilterConfig = { shadowRulesStatPrefix: m.shadow_rules_stat_prefix ?? '' };
  if (m.rules) out.rules = decodeRbac(m.rules, ctx, ref, fieldPath(field, 'rules'));
  if (m.shadow_rules) out.shadowRules = decodeRbac(m.shadow_rules, ctx, ref, fieldPath(field, 'shadow_rules'));
  if (kind === 'network') out.statPrefix = m.stat_prefix ?? '';
  return out;
}

/** envoy.config.rbac.v3.RBAC (action ALLOW when unset, as proto3 leaves the default out). */
export function decodeRbac(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): Rbac {
  checkFields(m, RBAC, ref, field, ctx);
  const action = m.action ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY' && action !== 'LOG') throw resourceError(ref, fieldPath(field, 'action'), `unsupported RBAC action ${action}`);
  const policies: Record<string, Policy> = {};
  for (const [name, p] of Object.entries((m.policies ?? {}) as Record<string, Msg>)) {
    const at = fieldPath(fieldPath(field, 'policies'), name);
    checkFields(p, POLICY, ref, at, ctx);
    policies[name] = {
      permissions: ((p.permissions ?? []) as Msg[]).map((x, i) => decodePermission(x, ref, fieldPath(fieldPath(at, 'permissions'), i))),
      principals: ((p.principals ?? []) as Msg[]).map((x, i) => decodePrincipal(x, ref, fieldPath(fieldPath(at, 'principals'), i))),
    };
  }
  return { action, policies };
}

function decodePermission(p: Msg, ref: ResourceRef, field: string): Permission {
  const at = (k: string) => fieldPath(field, k);
  const list = (set: Msg | undefined, k: string) => ((set?.rules ?? []) as Msg[]).map((x, i) => decodePermission(x, ref, fieldPath(fieldPath(at(k), 'rules'), i)));
  switch (p.rule) {
    case 'and_rules':
      return { andRules: { rules: list(p.and_rules, 'and_rules') } };
    case 'or_rules':
      return { orRules: { rules: list(p.or_rules, 'or_rules') } };
    case 'not_rule':
      return { notRule: decodePermission(p.not_rule, ref, at('not_rule')) };
    case 'any':
      return { any: p.any === true };
    case 'header':
      return { header: decodeHeaderMatcher(p.header, ref, at('header')) };
    case 'url_path':
      return { urlPath: { path: decodePathMatcher(p.url_path, ref, at('url_path')) } };
    case 'destination_ip':
      return { destinationIp: decodeCidr(p.destination_ip, ref, at('destination_ip')) };
    case 'destination_port':
      return { destinationPort: p.destination_port ?? 0 };
    case 'requested_server_name':
      return { requestedServerName: rbacStringMatcher(p.requested_server_name, ref, at('requested_server_name')) };
    case 'metadata':
      return { metadata: decodeMetadataMatcher(p.metadata, ref, at('metadata')) };
    case 'uri_template': {
      const t = p.uri_template as Msg;
      const tc = typedConfigOf<{ path_template?: string }>(t.typed_config, ref, at('uri_template.typed_config'));
      if (tc?.typeName !== 'envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig' || !tc.message?.path_template) {
        throw resourceError(ref, at('uri_template'), 'expected a UriTemplateMatchConfig with a path_template');
      }
      return { uriTemplate: { name: t.name ?? '', typedConfig: { '@type': `type.googleapis.com/${tc.typeName}`, pathTemplate: tc.message.path_template } } };
    }
    case undefined:
      throw resourceError(ref, field, 'a permission needs a rule');
    default:
      throw resourceError(ref, at(p.rule), `RBAC permission ${p.rule} is not supported`);
  }
}

function decodePrincipal(p: Msg, ref: ResourceRef, field: string): Principal {
  const at = (k: string) => fieldPath(field, k);
  const list = (set: Msg | undefined, k: string) => ((set?.ids ?? []) as Msg[]).map((x, i) => decodePrincipal(x, ref, fieldPath(fieldPath(at(k), 'ids'), i)));
  switch (p.identifier) {
    case 'and_ids':
      return { andIds: { ids: list(p.and_ids, 'and_ids') } };
    case 'or_ids':
      return { orIds: { ids: list(p.or_ids, 'or_ids') } };
    case 'not_id':
      return { notId: decodePrincipal(p.not_id, ref, at('not_id')) };
    case 'any':
      return { any: p.any === true };
    case 'authenticated': {
      const name = p.authenticated?.principal_name;
      return { authenticated: name ? { principalName: rbacStringMatcher(name, ref, at('authenticated.principal_name')) } : {} };
    }
    // source_ip is the deprecated spelling of direct_remote_ip
    case 'source_ip':
    case 'direct_remote_ip':
      return { directRemoteIp: decodeCidr(p[p.identifier], ref, at(p.identifier)) };
    case 'remote_ip':
      return { remoteIp: decodeCidr(p.remote_ip, ref, at('remote_ip')) };
    case 'header':
      return { header: decodeHeaderMatcher(p.header, ref, at('header')) };
    case 'metadata':
      return { metadata: decodeMetadataMatcher(p.metadata, ref, at('metadata')) };
    case 'filter_state': {
      // istio_authn publishes the mTLS peer's principal there: the same thing `authenticated` matches
      const fs = p.filter_state as Msg;
      if (fs.key !== PEER_PRINCIPAL_KEY || fs.matcher !== 'string_match') {
        throw resourceError(ref, at('filter_state'), `only filter state ${PEER_PRINCIPAL_KEY} with a string_match is supported, got ${fs.key}`);
      }
      return { authenticated: { principalName: rbacStringMatcher(fs.string_match, ref, at('filter_state.string_match')) } };
    }
    case undefined:
      throw resourceError(ref, field, 'a principal needs an identifier');
    default:
      throw resourceError(ref, at(p.identifier), `RBAC principal ${p.identifier} is not supported`);
  }
}

/** StringMatcher in rbac.ts's JSON form. */
export function rbacStringMatcher(m: StringMatcherMessage, ref: ResourceRef, field: string): StringMatcher {
  const s = decodeStringMatcher(m, ref, field);
  if ('regex' in s) return { safeRegex: { regex: s.regex } };
  return s as StringMatcher;
}

function decodePathMatcher(m: Msg, ref: ResourceRef, field: string): StringMatcher {
  if (m.rule !== 'path' || !m.path) throw resourceError(ref, field, 'a path matcher needs path');
  return rbacStringMatcher(m.path, ref, fieldPath(field, 'path'));
}

/** route.v3.HeaderMatcher in rbac.ts's JSON form (the deprecated exact/prefix/suffix/regex forms kept as they are). */
export function decodeHeaderMatcher(h: Msg, ref: ResourceRef, field: string): HeaderMatcher {
  if (!h.name) throw resourceError(ref, fieldPath(field, 'name'), 'a header matcher needs a name');
  if (h.treat_missing_header_as_empty) throw resourceError(ref, fieldPath(field, 'treat_missing_header_as_empty'), 'treat_missing_header_as_empty is not supported');
  const base = { name: h.name as string, ...(h.invert_match ? { invertMatch: true } : {}) };
  switch (h.header_match_specifier) {
    case 'string_match':
      return { ...base, stringMatch: rbacStringMatcher(h.string_match, ref, fieldPath(field, 'string_match')) };
    case 'present_match':
      return { ...base, presentMatch: h.present_match === true };
    case 'exact_match':
      return { ...base, exactMatch: h.exact_match ?? '' };
    case 'prefix_match':
    case 'suffix_match': {
      const v = h[h.header_match_specifier];
      if (!v) throw resourceError(ref, fieldPath(field, h.header_match_specifier), 'must not be empty');
      return h.header_match_specifier === 'prefix_match' ? { ...base, prefixMatch: v } : { ...base, suffixMatch: v };
    }
    case 'contains_match':
      if (!h.contains_match) throw resourceError(ref, fieldPath(field, 'contains_match'), 'must not be empty');
      return { ...base, stringMatch: { contains: h.contains_match } };
    case 'safe_regex_match':
      return { ...base, safeRegexMatch: { regex: decodeRegex(h.safe_regex_match?.regex, ref, fieldPath(field, 'safe_regex_match.regex')) } };
    case undefined:
      // no specifier: Envoy matches a present header
      return { ...base, presentMatch: true };
    default:
      throw resourceError(ref, fieldPath(field, h.header_match_specifier), `header matcher ${h.header_match_specifier} is not supported`);
  }
}

export function decodeCidr(c: Msg | undefined, ref: ResourceRef, field: string): CidrRange {
  if (!c?.address_prefix) throw resourceError(ref, fieldPath(field, 'address_prefix'), 'a CIDR range needs an address_prefix');
  return { addressPrefix: c.address_prefix, prefixLen: c.prefix_len?.value ?? 0 };
}

export function decodeMetadataMatcher(m: Msg, ref: ResourceRef, field: string): MetadataMatcher {
  if (!m.filter) throw resourceError(ref, fieldPath(field, 'filter'), 'a metadata matcher needs a filter');
  const path = ((m.path ?? []) as Msg[]).map((s, i) => {
    if (s.key === undefined) throw resourceError(ref, fieldPath(fieldPath(field, 'path'), i), 'a path segment needs a key');
    return { key: s.key as string };
  });
  if (!m.value) throw resourceError(ref, fieldPath(field, 'value'), 'a metadata matcher needs a value');
  return { filter: m.filter, path, value: decodeValueMatcher(m.value, ref, fieldPath(field, 'value')), ...(m.invert ? { invert: true } : {}) };
}

function decodeValueMatcher(v: Msg, ref: ResourceRef, field: string): ValueMatcher {
  switch (v.match_pattern) {
    case 'string_match':
      return { stringMatch: rbacStringMatcher(v.string_match, ref, fieldPath(field, 'string_match')) };
    case 'present_match':
      return { presentMatch: v.present_match === true };
    case 'list_match':
      if (!v.list_match?.one_of) throw resourceError(ref, fieldPath(field, 'list_match.one_of'), 'a list matcher needs one_of');
      return { listMatch: { oneOf: decodeValueMatcher(v.list_match.one_of, ref, fieldPath(field, 'list_match.one_of')) } };
    case 'or_match':
      return { orMatch: { valueMatchers: ((v.or_match?.value_matchers ?? []) as Msg[]).map((x, i) => decodeValueMatcher(x, ref, fieldPath(fieldPath(field, 'or_match.value_matchers'), i))) } };
    default:
      throw resourceError(ref, fieldPath(field, v.match_pattern ?? ''), `value matcher ${v.match_pattern ?? '(none)'} is not supported`);
  }
}
