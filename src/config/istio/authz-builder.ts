/**
 * AuthorizationPolicy → Envoy RBAC, as istiod's pilot/pkg/security/authz (builder + model) does it
 * for one workload: one RBAC filter config per action (AUDIT as LOG, DENY, ALLOW; CUSTOM as RBAC
 * shadow rules + an ext_authz filter for its provider), for HTTP filter chains and for TCP ones, where HTTP-only
 * attributes cannot be checked: a DENY (or AUDIT, or CUSTOM) rule drops them and so matches more,
 * an ALLOW rule that uses them is dropped entirely and so matches nothing.
 */
import { parseCidr } from '../../common/cidr.js';
import {
  isPathTemplate,
  nestedBracketNames,
  type AuthorizationPolicySpec,
  type AuthzAction,
  type AuthzRuleSpec,
} from './parse-authorization-policy.js';
import {
  HTTP_EXT_AUTHZ_FILTER,
  HTTP_RBAC_FILTER,
  NETWORK_EXT_AUTHZ_FILTER,
  NETWORK_RBAC_FILTER,
  type CidrRange,
  type HeaderMatcher,
  type HttpAuthzFilter,
  type MetadataMatcher,
  type Permission,
  type Policy,
  type Principal,
  type Rbac,
  type RbacAction,
  type RbacFilterConfig,
  type StringMatcher,
  type TcpAuthzFilter,
  type ValueMatcher,
} from '../envoy/rbac.js';
import { JWT_AUTHN_FILTER } from '../envoy/jwt-authn.js';
import type { ExtAuthzProviderSpec } from './resources.js';
import { extAuthzFilterConfigs } from './translate-ext-authz.js';

export interface AuthzBuildOptions {
  /** The mesh trust domain (MeshConfig trustDomain); default `cluster.local`. */
  trustDomain?: string;
  /** MeshConfig trustDomainAliases: principals in any of these domains are treated alike. */
  trustDomainAliases?: readonly string[];
  /**
   * MeshConfig extension providers usable by CUSTOM policies, by name. A CUSTOM policy naming
   * another provider denies what it matches (as istiod does for a provider it cannot resolve).
   */
  extensionProviders?: Readonly<Record<string, ExtAuthzProviderSpec>>;
  /** PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS: without it, CUSTOM policies naming different providers deny what they match. */
  multipleCustomProviders?: boolean;
  /** Receives istiod's "skipped rule" notes. */
  warnings?: string[];
}

export const SHADOW_ALLOW_STAT_PREFIX = 'istio_dry_run_allow_';
export const SHADOW_DENY_STAT_PREFIX = 'istio_dry_run_deny_';
export const EXT_AUTHZ_SHADOW_STAT_PREFIX = 'istio_ext_authz_';
export const TCP_STAT_PREFIX = 'tcp.';
/** Dynamic metadata the RBAC filter writes: the first shadow policy that matched. */
export const SHADOW_EFFECTIVE_POLICY_ID = 'shadow_effective_policy_id';
export const EXT_AUTHZ_MATCH_PREFIX = 'istio-ext-authz';
export const BAD_CUSTOM_ACTION_SUFFIX = '-deny-due-to-bad-CUSTOM-action';
const SPIFFE = 'spiffe://';
const URI_TEMPLATE_TYPE = 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

/** The workload a sidecar serves, for policy selection. */
export interface AuthzWorkload {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * The policies that apply to a workload, in istiod's order: the root namespace's first, then the
 * workload namespace's; within one, load order. A policy applies when its selector's labels are all
 * on the workload (no selector: every workload).
 */
export function policiesForWorkload(
  all: readonly AuthorizationPolicySpec[],
  workload: AuthzWorkload,
  rootNamespace = 'istio-system',
): AuthorizationPolicySpec[] {
  const applies = (p: AuthorizationPolicySpec) =>
    !p.selector || Object.entries(p.selector).every(([k, v]) => workload.labels[k] === v);
  const inNs = (ns: string) => all.filter((p) => p.meta.namespace === ns && applies(p)).sort((a, b) => a.meta.order - b.meta.order);
  return rootNamespace === workload.namespace ? inNs(rootNamespace) : [...inNs(rootNamespace), ...inNs(workload.namespace)];
}

/** The HTTP filters, in filter-chain order: CUSTOM (RBAC shadow + ext_authz), AUDIT, DENY, ALLOW. */
export function buildHttpAuthzFilters(policies: readonly AuthorizationPolicySpec[], opts: AuthzBuildOptions = {}): HttpAuthzFilter[] {
  return new Builder(opts).build(policies, false) as HttpAuthzFilter[];
}

/** The network filters of a TCP filter chain, in the same order. */
export function buildTcpAuthzFilters(policies: readonly AuthorizationPolicySpec[], opts: AuthzBuildOptions = {}): TcpAuthzFilter[] {
  return new Builder(opts).build(policies, true) as TcpAuthzFilter[];
}

// ---------------------------------------------------------------------------------------------
// Matcher helpers (istiod's authz/matcher package)

/** Go's regexp.QuoteMeta. */
function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

const regex = (r: string): StringMatcher => ({ safeRegex: { regex: r } });

/** Istio's value syntax: `*` presence (`.+`), `*abc` suffix, `abc*` prefix, else exact; `prefix` is prepended. */
function stringMatcher(v: string, prefix = ''): StringMatcher {
  if (v === '*') return regex('.+');
  if (v.startsWith('*')) return prefix === '' ? { suffix: v.slice(1) } : regex(prefix + '.*' + quoteMeta(v.slice(1)));
  if (v.endsWith('*')) return { prefix: prefix + v.slice(0, -1) };
  return { exact: prefix + v };
}

function headerMatcher(name: string, v: string): HeaderMatcher {
  return v === '*' ? { name, presentMatch: true } : { name, stringMatch: stringMatcher(v) };
}

function hostMatcher(v: string): HeaderMatcher {
  return v === '*' ? { name: ':authority', presentMatch: true } : { name: ':authority', stringMatch: { ...stringMatcher(v), ignoreCase: true } };
}

function cidrRange(v: string): CidrRange {
  const c = parseCidr(v);
  if (!c) throw new Error(`bad IP address or CIDR range (${v})`);
  // Go's netip prints IPv6 in its canonical (RFC 5952) form, as the WHATWG URL parser does.
  const address = c.family === 6 ? new URL(`http://[${c.address}]`).hostname.slice(1, -1) : c.address;
  return { addressPrefix: address, prefixLen: c.prefixLength };
}

function port(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`invalid port ${v}`);
  return Number(v);
}

const orValue = (ms: ValueMatcher[]): ValueMatcher => (ms.length === 1 ? ms[0] : { orMatch: { valueMatchers: ms } });
const stringOrMatcher = (vs: readonly string[]): ValueMatcher => orValue(vs.map((v) => ({ stringMatch: stringMatcher(v) })));

/** A JWT claim, string or list of strings: `orMatch [listMatch oneOf m, m]`. */
function jwtClaimsMatcher(claims: readonly string[], m: ValueMatcher): MetadataMatcher {
  return {
    filter: JWT_AUTHN_FILTER,
    path: ['payload', ...claims].map((key) => ({ key })),
    value: { orMatch: { valueMatchers: [{ listMatch: { oneOf: m } }, m] } },
  };
}

function jwtClaimMatcher(claim: string, m: StringMatcher): MetadataMatcher {
  return { filter: JWT_AUTHN_FILTER, path: [{ key: 'payload' }, { key: claim }], value: { stringMatch: m } };
}

// ---------------------------------------------------------------------------------------------
// The model (istiod's authz/model): a rule is lists of (key, values, notValues) with a generator each.

class HttpOnlyError extends Error {
  constructor(key: string) {
    super(`"${key}" is HTTP only`);
  }
}

/** Turns one value into a permission or a principal; throws when it cannot (HTTP only on TCP, bad value). */
type OneGen = (key: string, value: string, forTCP: boolean) => Permission | Principal;
/** Turns the whole value list into one permission or principal (JWT claims, metadata). */
type AllGen = (key: string, values: readonly string[], forTCP: boolean) => Permission | Principal;

interface RuleItem {
  key: string;
  values: string[];
  notValues: string[];
  one?: OneGen;
  all?: AllGen;
}

const httpOnly = (key: string, forTCP: boolean) => {
  if (forTCP) throw new HttpOnlyError(key);
};

// permissions
const destIp: OneGen = (_k, v) => ({ destinationIp: cidrRange(v) });
const destPort: OneGen = (_k, v) => ({ destinationPort: port(v) });
const connSni: OneGen = (_k, v) => ({ requestedServerName: stringMatcher(v) });
const host: OneGen = (k, v, tcp) => (httpOnly(k, tcp), { header: hostMatcher(v) });
const method: OneGen = (k, v, tcp) => (httpOnly(k, tcp), { header: headerMatcher(':method', v) });
const path: OneGen = (k, v, tcp) => {
  httpOnly(k, tcp);
  if (isPathTemplate(v)) {
    const pathTemplate = v.split('{**}').join('**').split('{*}').join('*');
    return { uriTemplate: { name: 'uri-template', typedConfig: { '@type': URI_TEMPLATE_TYPE, pathTemplate } } };
  }
  return { urlPath: { path: stringMatcher(v) } };
};
const envoyFilter: AllGen = (key, values) => {
  // experimental.envoy.filters.a.b[c] → filter envoy.filters.a.b, key c; "[v]" values match inside a list
  const body = key.slice('experimental.'.length).replace(/\]$/, '');
  const open = body.indexOf('[');
  if (open < 0) throw new Error(`invalid key: ${key}`);
  const ms: ValueMatcher[] = values.map((v) =>
    v.startsWith('[') && v.endsWith(']') ? { listMatch: { oneOf: { stringMatch: stringMatcher(v.replace(/^\[+|\]+$/g, '')) } } } : { stringMatch: stringMatcher(v) },
  );
  return { metadata: { filter: body.slice(0, open), path: [{ key: body.slice(open + 1) }], value: orValue(ms) } };
};

// principals
const srcIp: OneGen = (_k, v) => ({ directRemoteIp: cidrRange(v) });
const remoteIp: OneGen = (_k, v) => ({ remoteIp: cidrRange(v) });
const srcNamespace: OneGen = (_k, v) => ({
  authenticated: { principalName: regex(`.*/ns/${quoteMeta(v).split('\\*').join('.*')}/.*`) },
});
const srcPrincipal: OneGen = (_k, v) => ({ authenticated: { principalName: stringMatcher(v, SPIFFE) } });
/** `trustDomains`: exact, prefix, suffix or presence match on the SPIFFE ID's trust domain. */
const srcTrustDomain: OneGen = (_k, v) => {
  if (v === '*') return { authenticated: { principalName: regex('.+') } };
  if (v.startsWith('*')) return { authenticated: { principalName: regex(`${SPIFFE}[^/]*${quoteMeta(v.slice(1))}/.*`) } };
  if (v.endsWith('*')) return { authenticated: { principalName: regex(`${SPIFFE}${quoteMeta(v.slice(0, -1))}[^/]*/.*`) } };
  return { authenticated: { principalName: { prefix: `${SPIFFE}${v}/` } } };
};
const srcServiceAccount = (policyNamespace: string): OneGen => (_k, v) => {
  const slash = v.indexOf('/');
  const ns = slash < 0 ? policyNamespace : v.slice(0, slash);
  const sa = slash < 0 ? v : v.slice(slash + 1);
  // spiffe://<td>/ns/<ns>/[anything/]sa/<sa>[/anything]
  return { authenticated: { principalName: regex(`${SPIFFE}.+/ns/${quoteMeta(ns)}/(.+/|)sa/${quoteMeta(sa)}(/.+)?`) } };
};
const requestHeader: OneGen = (k, v, tcp) => {
  httpOnly(k, tcp);
  const name = k.slice('request.headers'.length);
  if (!name.startsWith('[') || !name.endsWith(']')) throw new Error(`expecting format [<NAME>], but found ${name}`);
  return { header: headerMatcher(name.slice(1, -1), v) };
};
const matchAny = regex('.+');
const requestPrincipal: AllGen = (k, values, tcp) => {
  httpOnly(k, tcp);
  // <iss>/<sub>, split at the last "/" (issuers are often URLs); * may replace the start or the end
  const or: Principal[] = values.map((v) => {
    const idx = v.lastIndexOf('/');
    const found = idx >= 0;
    const iss = found ? v.slice(0, idx) : v;
    const sub = found ? v.slice(idx + 1) : '';
    let mIss: StringMatcher;
    let mSub: StringMatcher;
    if (v === '*') {
      mIss = matchAny;
      mSub = matchAny;
    } else if (v.startsWith('*')) {
      if (found) {
        mIss = iss === '*' ? matchAny : { suffix: iss.slice(1) };
        mSub = { exact: sub };
      } else {
        mIss = matchAny;
        mSub = { suffix: v.slice(1) };
      }
    } else if (v.endsWith('*')) {
      if (found) {
        mIss = { exact: iss };
        mSub = sub === '*' ? matchAny : { prefix: sub.slice(0, -1) };
      } else {
        mIss = { prefix: v.slice(0, -1) };
        mSub = matchAny;
      }
    } else {
      mIss = { exact: iss };
      mSub = { exact: sub };
    }
    return { andIds: { ids: [{ metadata: jwtClaimMatcher('iss', mIss) }, { metadata: jwtClaimMatcher('sub', mSub) }] } };
  });
  return or.length === 1 ? or[0] : { orIds: { ids: or } };
};
const requestAudiences: AllGen = (k, values, tcp) => (httpOnly(k, tcp), { metadata: jwtClaimsMatcher(['aud'], stringOrMatcher(values)) });
const requestPresenter: AllGen = (k, values, tcp) => (httpOnly(k, tcp), { metadata: jwtClaimsMatcher(['azp'], stringOrMatcher(values)) });
const requestClaims: AllGen = (k, values, tcp) => {
  httpOnly(k, tcp);
  const claims = nestedBracketNames(k.slice('request.auth.claims'.length));
  if (!claims) throw new Error(`invalid claim key ${k}`);
  return { metadata: jwtClaimsMatcher(claims, stringOrMatcher(values)) };
};

interface Model {
  permissions: RuleItem[][];
  principals: RuleItem[][];
}

function item(key: string, values: string[], notValues: string[], gen: { one?: OneGen; all?: AllGen }): RuleItem | undefined {
  return values.length || notValues.length ? { key, values, notValues, ...gen } : undefined;
}

/** istiod's model.New: `when` conditions are shared by every from/to entry, after their own fields. */
function newModel(rule: AuthzRuleSpec, policyNamespace: string): Model {
  const basePermission: RuleItem[] = [];
  const basePrincipal: RuleItem[] = [];
  for (const w of rule.when) {
    const k = w.key;
    const push = (list: RuleItem[], gen: { one?: OneGen; all?: AllGen }) => {
      const it = item(k, w.values, w.notValues, gen);
      if (it) list.push(it);
    };
    if (k === 'destination.ip') push(basePermission, { one: destIp });
    else if (k === 'destination.port') push(basePermission, { one: destPort });
    else if (k === 'connection.sni') push(basePermission, { one: connSni });
    else if (k.startsWith('experimental.envoy.filters.')) push(basePermission, { all: envoyFilter });
    else if (k === 'source.ip') push(basePrincipal, { one: srcIp });
    else if (k === 'remote.ip') push(basePrincipal, { one: remoteIp });
    else if (k === 'source.namespace') push(basePrincipal, { one: srcNamespace });
    else if (k === 'source.serviceAccount') push(basePrincipal, { one: srcServiceAccount(policyNamespace) });
    else if (k === 'source.principal') push(basePrincipal, { one: srcPrincipal });
    else if (k === 'request.auth.principal') push(basePrincipal, { all: requestPrincipal });
    else if (k === 'request.auth.audiences') push(basePrincipal, { all: requestAudiences });
    else if (k === 'request.auth.presenter') push(basePrincipal, { all: requestPresenter });
    else if (k.startsWith('request.headers')) push(basePrincipal, { one: requestHeader });
    else if (k.startsWith('request.auth.claims')) push(basePrincipal, { all: requestClaims });
    else throw new Error(`unknown attribute ${k}`);
  }

  const principals: RuleItem[][] = [];
  for (const s of rule.from) {
    const front = [
      item('source.principal', s.principals, s.notPrincipals, { one: srcPrincipal }),
      item('request.auth.principal', s.requestPrincipals, s.notRequestPrincipals, { all: requestPrincipal }),
      item('source.trustDomain', s.trustDomains, s.notTrustDomains, { one: srcTrustDomain }),
      item('source.serviceAccount', s.serviceAccounts, s.notServiceAccounts, { one: srcServiceAccount(policyNamespace) }),
      item('source.namespace', s.namespaces, s.notNamespaces, { one: srcNamespace }),
      item('remote.ip', s.remoteIpBlocks, s.notRemoteIpBlocks, { one: remoteIp }),
      item('source.ip', s.ipBlocks, s.notIpBlocks, { one: srcIp }),
    ].filter((x): x is RuleItem => x !== undefined);
    principals.push([...front, ...basePrincipal]);
  }
  if (rule.from.length === 0) principals.push(basePrincipal);

  const permissions: RuleItem[][] = [];
  for (const o of rule.to) {
    const front = [
      item(':authority', o.hosts, o.notHosts, { one: host }),
      item(':method', o.methods, o.notMethods, { one: method }),
      item('path-matcher', o.paths, o.notPaths, { one: path }),
      item('destination.port', o.ports, o.notPorts, { one: destPort }),
    ].filter((x): x is RuleItem => x !== undefined);
    permissions.push([...front, ...basePermission]);
  }
  if (rule.to.length === 0) permissions.push(basePermission);
  return { permissions, principals };
}

/** Trust domain migration: a principal in the local trust domain (or an alias, or `cluster.local`) also matches in the others. */
class TrustDomainBundle {
  readonly domains: string[];

  constructor(trustDomain: string, aliases: readonly string[]) {
    this.domains = [trustDomain, ...aliases];
  }

  replaceAliases(principals: readonly string[]): string[] {
    const out: string[] = [];
    for (const p of principals) {
      const parts = p.split('/');
      // "*/ns/foo/sa/bar" or a principal not in SPIFFE form: the trust domain is not checked
      if (parts.length !== 5 || parts[0] === '*') {
        out.push(p);
        continue;
      }
      const td = parts[0];
      if (!(tdMatch(td, this.domains) || td === 'cluster.local')) {
        out.push(p);
        continue;
      }
      const variants: string[] = [];
      for (const d of this.domains) {
        // "*-td" keeps the pattern for every domain it covers, once
        const np = suffixMatch(d, td) ? p : [d, ...parts.slice(1)].join('/');
        if (!variants.includes(np)) variants.push(np);
      }
      out.push(...variants);
    }
    return out;
  }

  expandDomains(values: readonly string[]): string[] {
    const out: string[] = [];
    for (const v of values) for (const x of this.domains.includes(v) ? this.domains : [v]) if (!out.includes(x)) out.push(x);
    return out;
  }
}

const prefixMatch = (a: string, pattern: string) => pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1));
const suffixMatch = (a: string, pattern: string) => pattern.startsWith('*') && a.endsWith(pattern.slice(1));
/** Istio's trustdomain.stringMatch: the pattern may be on either side. */
const tdMatch = (a: string, list: readonly string[]) =>
  list.some((s) => a === s || s === '*' || prefixMatch(a, s) || prefixMatch(s, a) || suffixMatch(a, s) || suffixMatch(s, a));

function migrateTrustDomain(m: Model, bundle: TrustDomainBundle): Model {
  const fix = (it: RuleItem): RuleItem => {
    if (it.key === 'source.principal') return { ...it, values: bundle.replaceAliases(it.values), notValues: bundle.replaceAliases(it.notValues) };
    if (it.key === 'source.trustDomain') return { ...it, values: bundle.expandDomains(it.values), notValues: bundle.expandDomains(it.notValues) };
    return it;
  };
  return { permissions: m.permissions, principals: m.principals.map((l) => l.map(fix)) };
}

/**
 * model.Generate. Errors (HTTP-only attribute on TCP, invalid value): an ALLOW rule fails as a whole
 * (the caller drops it: it grants nothing); DENY, AUDIT and CUSTOM drop only the failing value and
 * keep the rest, so they match more.
 */
function generate(m: Model, forTCP: boolean, action: RbacAction): Policy {
  const check = (e: unknown) => {
    if (action === 'ALLOW') throw e;
  };
  const run = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      check(e);
      return undefined;
    }
  };
  const rules = <T extends Permission | Principal>(list: RuleItem[], or: (xs: T[]) => T, not: (x: T) => T, any: T, and: (xs: T[]) => T): T => {
    const out: T[] = [];
    for (const it of list) {
      if (it.all) {
        if (it.values.length) {
          const p = run(() => it.all!(it.key, it.values, forTCP) as T);
          if (p) out.push(p);
        }
        if (it.notValues.length) {
          const p = run(() => it.all!(it.key, it.notValues, forTCP) as T);
          if (p) out.push(not(p));
        }
        continue;
      }
      const ors = (vs: string[]) => vs.map((v) => run(() => it.one!(it.key, v, forTCP) as T)).filter((x): x is T => x !== undefined);
      const pos = ors(it.values);
      if (pos.length) out.push(or(pos));
      const neg = ors(it.notValues);
      if (neg.length) out.push(not(or(neg)));
    }
    return and(out.length ? out : [any]);
  };
  const permissions = m.permissions.map((l) =>
    rules<Permission>(l, (rs) => ({ orRules: { rules: rs } }), (r) => ({ notRule: r }), { any: true }, (rs) => ({ andRules: { rules: rs } })),
  );
  const principals = m.principals.map((l) =>
    rules<Principal>(l, (ids) => ({ orIds: { ids } }), (id) => ({ notId: id }), { any: true }, (ids) => ({ andIds: { ids } })),
  );
  return { permissions, principals };
}

/** A policy without rules: an explicit policy that never matches. */
const MATCH_NEVER: Policy = { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] };

interface BuiltRules {
  rules?: Rbac;
  shadowRules?: Rbac;
  /** CUSTOM: per provider, enforced (non dry-run) and dry-run policies. */
  providerRules: Map<string, { rules: Rbac; shadowRules: Rbac }>;
}

const RBAC_ACTION: Record<Exclude<AuthzAction, 'CUSTOM'>, RbacAction> = { ALLOW: 'ALLOW', DENY: 'DENY', AUDIT: 'LOG' };

function shadowStatPrefix(shadow: Rbac | undefined): string {
  // istiod asks the (possibly absent) shadow rules for their action: absent reads as ALLOW
  const action = shadow?.action ?? 'ALLOW';
  return action === 'ALLOW' ? SHADOW_ALLOW_STAT_PREFIX : action === 'DENY' ? SHADOW_DENY_STAT_PREFIX : '';
}

class Builder {
  private readonly bundle: TrustDomainBundle;
  private readonly warnings: string[];

  constructor(private readonly opts: AuthzBuildOptions) {
    this.bundle = new TrustDomainBundle(opts.trustDomain ?? 'cluster.local', opts.trustDomainAliases ?? []);
    this.warnings = opts.warnings ?? [];
  }

  build(policies: readonly AuthorizationPolicySpec[], forTCP: boolean): (HttpAuthzFilter | TcpAuthzFilter)[] {
    const by = (a: AuthzAction) => policies.filter((p) => p.action === a);
    const out: (HttpAuthzFilter | TcpAuthzFilter)[] = [];
    const custom = by('CUSTOM');
    if (custom.length) out.push(...this.customFilters(this.rules(custom, 'DENY', forTCP, true), forTCP));
    for (const a of ['AUDIT', 'DENY', 'ALLOW'] as const) {
      const ps = by(a);
      if (!ps.length) continue;
      const { rules, shadowRules } = this.rules(ps, RBAC_ACTION[a], forTCP, false);
      const config: RbacFilterConfig = {
        ...(rules ? { rules } : {}),
        ...(shadowRules ? { shadowRules } : {}),
        shadowRulesStatPrefix: shadowStatPrefix(shadowRules),
      };
      out.push(this.rbacFilter(config, forTCP));
    }
    return out;
  }

  private rbacFilter(config: RbacFilterConfig, forTCP: boolean): HttpAuthzFilter | TcpAuthzFilter {
    return forTCP
      ? { name: NETWORK_RBAC_FILTER, typedConfig: { ...config, statPrefix: TCP_STAT_PREFIX } }
      : { name: HTTP_RBAC_FILTER, typedConfig: config };
  }

  /** builder.build: one RBAC (plus one for dry-run policies) per action; CUSTOM grouped by provider. */
  private rules(policies: readonly AuthorizationPolicySpec[], action: RbacAction, forTCP: boolean, isCustom: boolean): BuiltRules {
    const enforce: Rbac = { action, policies: {} };
    const shadow: Rbac = { action, policies: {} };
    let hasEnforce = false;
    let hasShadow = false;
    const providerRules = new Map<string, { rules: Rbac; shadowRules: Rbac }>();
    for (const policy of policies) {
      let target: Rbac;
      let prefix = '';
      if (isCustom) {
        const provider = policy.provider ?? '';
        prefix = provider ? `${EXT_AUTHZ_MATCH_PREFIX}-${provider}-` : `${EXT_AUTHZ_MATCH_PREFIX}-`;
        let pr = providerRules.get(provider);
        if (!pr) providerRules.set(provider, (pr = { rules: { action, policies: {} }, shadowRules: { action, policies: {} } }));
        target = policy.dryRun ? pr.shadowRules : pr.rules;
      } else if (policy.dryRun) {
        target = shadow;
        hasShadow = true;
      } else {
        target = enforce;
        hasEnforce = true;
      }
      const { namespace, name } = policy.meta;
      policy.rules.forEach((rule, i) => {
        const id = `${prefix}ns[${namespace}]-policy[${name}]-rule[${i}]`;
        try {
          const m = migrateTrustDomain(newModel(rule, namespace), this.bundle);
          target.policies[id] = generate(m, forTCP, action);
        } catch (e) {
          this.warnings.push(`skipped rule ${id} on the ${forTCP ? 'TCP' : 'HTTP'} filter chain: ${(e as Error).message}`);
        }
      });
      if (policy.rules.length === 0) target.policies[`${prefix}ns[${namespace}]-policy[${name}]-rule[0]`] = MATCH_NEVER;
    }
    return { ...(hasEnforce ? { rules: enforce } : {}), ...(hasShadow ? { shadowRules: shadow } : {}), providerRules };
  }

  private customFilters(built: BuiltRules, forTCP: boolean): (HttpAuthzFilter | TcpAuthzFilter)[] {
    const providers = [...built.providerRules.keys()].sort();
    const out: (HttpAuthzFilter | TcpAuthzFilter)[] = [];
    const badDeny = (rules: Rbac): RbacFilterConfig => {
      const policies: Record<string, Policy> = {};
      for (const [k, p] of Object.entries(rules.policies)) policies[k + BAD_CUSTOM_ACTION_SUFFIX] = p;
      return { rules: { action: 'DENY', policies }, shadowRulesStatPrefix: '' };
    };
    if (providers.length > 1 && !this.opts.multipleCustomProviders) {
      this.warnings.push(`CUSTOM policies name ${providers.length} providers (${providers.join(', ')}); only one per workload is supported: denying what they match`);
      for (const p of providers) out.push(this.rbacFilter(badDeny(built.providerRules.get(p)!.rules), forTCP));
      return out;
    }
    for (const provider of providers) {
      const { rules, shadowRules } = built.providerRules.get(provider)!;
      const spec = this.opts.extensionProviders?.[provider];
      if (!spec) {
        this.warnings.push(`CUSTOM provider "${provider}" is not a known extension provider: denying what its policies match`);
        out.push(this.rbacFilter(badDeny(rules), forTCP));
        continue;
      }
      const configs = extAuthzFilterConfigs(spec);
      if (forTCP && !configs.tcp) continue; // an HTTP ext_authz service cannot check TCP connections
      // Deviation: istiod (master) puts dry-run CUSTOM policies in this filter's enforced DENY
      // `rules`, which Envoy enforces, although a dry run must not be. Outrigger leaves them out.
      const dryRun = Object.keys(shadowRules.policies);
      if (dryRun.length) this.warnings.push(`dry-run CUSTOM policies are not applied (a dry run cannot call ext_authz without enforcing it): ${dryRun.join(', ')}`);
      // The RBAC filter only records which CUSTOM policy matched; ext_authz runs when one did.
      out.push(this.rbacFilter({ shadowRules: rules, shadowRulesStatPrefix: EXT_AUTHZ_SHADOW_STAT_PREFIX }, forTCP));
      const filterEnabledMetadata: MetadataMatcher = {
        filter: forTCP ? NETWORK_RBAC_FILTER : HTTP_RBAC_FILTER,
        path: [{ key: EXT_AUTHZ_SHADOW_STAT_PREFIX + SHADOW_EFFECTIVE_POLICY_ID }],
        value: { stringMatch: { prefix: `${EXT_AUTHZ_MATCH_PREFIX}-${provider}` } },
      };
      out.push(
        forTCP
          ? { name: NETWORK_EXT_AUTHZ_FILTER, typedConfig: { ...configs.tcp!, filterEnabledMetadata } }
          : { name: HTTP_EXT_AUTHZ_FILTER, typedConfig: { ...configs.http, filterEnabledMetadata } },
      );
    }
    return out;
  }
}
