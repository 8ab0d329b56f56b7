/**
 * Envoy's RBAC configuration as plain data, shaped like the protos' JSON form (camelCase field
 * names, one key per `oneof` member) so a config istiod would send reads the same here:
 * envoy.config.rbac.v3.{RBAC, Policy, Permission, Principal}, envoy.type.matcher.v3.{StringMatcher,
 * MetadataMatcher, ValueMatcher}, envoy.config.route.v3.HeaderMatcher, envoy.config.core.v3.CidrRange,
 * and the HTTP / network RBAC filter configs that carry them.
 */
import type { HttpExtAuthz, NetworkExtAuthz } from './ext-authz.js';

/** envoy.type.matcher.v3.StringMatcher (exact, prefix, suffix, contains or an RE2 that must match the whole value). */
export type StringMatcher = (
  | { exact: string }
  | { prefix: string }
  | { suffix: string }
  | { contains: string }
  | { safeRegex: { regex: string } }
) & { ignoreCase?: boolean };

/**
 * envoy.config.route.v3.HeaderMatcher, the subset Istio generates (and the deprecated forms istiod
 * used for proxies before 1.11).
 */
export type HeaderMatcher = { name: string; invertMatch?: boolean } & (
  | { stringMatch: StringMatcher }
  | { presentMatch: boolean }
  | { safeRegexMatch: { regex: string } }
  | { exactMatch: string }
  | { prefixMatch: string }
  | { suffixMatch: string }
);

/** envoy.config.core.v3.CidrRange. */
export interface CidrRange {
  addressPrefix: string;
  prefixLen: number;
}

/** envoy.type.matcher.v3.ValueMatcher, the subset Istio generates. */
export type ValueMatcher =
  | { stringMatch: StringMatcher }
  | { listMatch: { oneOf: ValueMatcher } }
  | { orMatch: { valueMatchers: ValueMatcher[] } }
  | { presentMatch: boolean };

/** envoy.type.matcher.v3.MetadataMatcher: dynamic metadata of `filter`, looked up along `path`. */
export interface MetadataMatcher {
  filter: string;
  path: { key: string }[];
  value: ValueMatcher;
  invert?: boolean;
}

/** The uri_template path matcher extension (envoy.extensions.path.match.uri_template.v3). */
export interface UriTemplateMatcher {
  name: string;
  typedConfig: { '@type': string; pathTemplate: string };
}

/** envoy.config.rbac.v3.Permission: what the request does. */
export type Permission =
  | { andRules: { rules: Permission[] } }
  | { orRules: { rules: Permission[] } }
  | { notRule: Permission }
  | { any: boolean }
  | { header: HeaderMatcher }
  | { urlPath: { path: StringMatcher } }
  | { uriTemplate: UriTemplateMatcher }
  | { destinationIp: CidrRange }
  | { destinationPort: number }
  | { requestedServerName: StringMatcher }
  | { metadata: MetadataMatcher };

/** envoy.config.rbac.v3.Principal: who sends the request. */
export type Principal =
  | { andIds: { ids: Principal[] } }
  | { orIds: { ids: Principal[] } }
  | { notId: Principal }
  | { any: boolean }
  | { authenticated: { principalName?: StringMatcher } }
  | { directRemoteIp: CidrRange }
  | { remoteIp: CidrRange }
  | { header: HeaderMatcher }
  | { metadata: MetadataMatcher };

/** envoy.config.rbac.v3.Policy: matches when any permission and any principal match. */
export interface Policy {
  permissions: Permission[];
  principals: Principal[];
}

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

/** envoy.config.rbac.v3.RBAC. */
export interface Rbac {
  action: RbacAction;
  /** Policy name → policy. Envoy keeps them in a std::map: evaluated in byte order of the names. */
  policies: Record<string, Policy>;
}

/** envoy.extensions.filters.{http,network}.rbac.v3.RBAC. */
export interface RbacFilterConfig {
  /** Enforced; absent means the filter enforces nothing. */
  rules?: Rbac;
  /** Evaluated, recorded, never enforced (dry-run policies; CUSTOM's "which policy matched"). */
  shadowRules?: Rbac;
  shadowRulesStatPrefix: string;
  /** Network filter only (`tcp.`). */
  statPrefix?: string;
}

import { HTTP_EXT_AUTHZ_FILTER, HTTP_RBAC_FILTER } from './http-filters.js';
export { HTTP_RBAC_FILTER, HTTP_EXT_AUTHZ_FILTER };
export const NETWORK_RBAC_FILTER = 'envoy.filters.network.rbac';
export const NETWORK_EXT_AUTHZ_FILTER = 'envoy.filters.network.ext_authz';

export type HttpAuthzFilter =
  | { name: typeof HTTP_RBAC_FILTER; typedConfig: RbacFilterConfig }
  | { name: typeof HTTP_EXT_AUTHZ_FILTER; typedConfig: HttpExtAuthz };

export type TcpAuthzFilter =
  | { name: typeof NETWORK_RBAC_FILTER; typedConfig: RbacFilterConfig }
  | { name: typeof NETWORK_EXT_AUTHZ_FILTER; typedConfig: NetworkExtAuthz };

export type AuthzFilter = HttpAuthzFilter | TcpAuthzFilter;
