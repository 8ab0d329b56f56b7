/**
 * Envoy's RBAC engine over plain data: configs (config/envoy/rbac.ts) are compiled once into closures, then
 * evaluated per request or connection without compiling regexes or building strings (only repeated
 * headers, a query string on the path, or a request principal without claims cost a string).
 *
 * Semantics (envoy.config.rbac.v3): a policy matches when one of its permissions and one of its
 * principals match; policies are tried in byte order of their names and the first match is the
 * "effective policy". ALLOW: allowed iff some policy matches. DENY: denied iff some policy
 * matches. LOG: always allowed, the match only marks the request for audit. Shadow rules are
 * evaluated and reported, never enforced.
 */
import { CidrSet, parseCidr } from '../../common/cidr.js';
import { compileRegex, type CompiledRegex } from '../../common/regex.js';
import type { HttpExtAuthz, NetworkExtAuthz } from '../../config/envoy/ext-authz.js';
import { JWT_AUTHN_FILTER } from '../../config/envoy/jwt-authn.js';
import {
  type AuthzFilter,
  type CidrRange,
  type HeaderMatcher,
  type MetadataMatcher,
  type Permission,
  type Principal,
  type Rbac,
  type RbacAction,
  type RbacFilterConfig,
  type StringMatcher,
  type ValueMatcher,
} from '../../config/envoy/rbac.js';

/** What RBAC looks at. HTTP fields are absent on TCP connections. */
export interface AuthzRequest {
  /** :method */
  method?: string;
  /** :path, query string included (it is ignored by path matchers); already normalized. */
  path?: string;
  /** :authority as received (may carry a port). */
  host?: string;
  /** Other request headers: lower-case name → value(s). Repeated values are matched joined with ",". */
  headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * Instead of `headers`: a lookup by lower-case name returning repeated values joined with ","
   * (what router/request-view.ts RequestView.header does), so no record is built per request.
   */
  header?(lowerName: string): string | undefined;
  /** The downstream connection's peer address (`source.ip`, `ipBlocks`, Envoy direct_remote_ip). */
  sourceIp: string;
  /** The original client (x-forwarded-for / proxy protocol) (`remote.ip`, `remoteIpBlocks`); default sourceIp. */
  remoteIp?: string;
  /** The address and port the connection was made to (`destination.ip`, `destination.port`, `ports`). */
  destinationIp: string;
  destinationPort: number;
  /** TLS SNI (`connection.sni`). */
  sni?: string;
  /** The mTLS peer's URI SAN, `spiffe://<td>/ns/<ns>/sa/<sa>`; undefined on plaintext connections. */
  peerPrincipal?: string;
  /** The verified JWT's payload (Envoy's jwt_authn `payload` metadata): `request.auth.*`, `requestPrincipals`. */
  jwtClaims?: Readonly<Record<string, unknown>>;
  /** `<iss>/<sub>` of the verified JWT, used for iss/sub when jwtClaims is not given. */
  requestPrincipal?: string;
  /** Other dynamic metadata by filter name (`experimental.envoy.filters.*`). */
  filterMetadata?: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>>;
}

/** The decision of one RBAC config. Returned objects are shared: never mutate them. */
export interface RbacDecision {
  readonly allowed: boolean;
  /** The effective policy: the first one (in name order) that matched. */
  readonly matchedPolicy?: string;
}

type Pred = (r: AuthzRequest) => boolean;
type Test = (v: string) => boolean;

const TRUE: Pred = () => true;
const FALSE: Pred = () => false;

// ---------------------------------------------------------------------------------------------
// string matching (ASCII case folding, as Envoy's absl::EqualsIgnoreCase)

function lowerCode(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** a[at..at+b.length) equals b (already lower-case), ignoring ASCII case. */
function regionEqualsIgnoreCase(a: string, at: number, lowerB: string): boolean {
  for (let i = 0; i < lowerB.length; i++) if (lowerCode(a.charCodeAt(at + i)) !== lowerB.charCodeAt(i)) return false;
  return true;
}

export function compileStringMatcher(m: StringMatcher): Test {
  const ic = m.ignoreCase === true;
  if ('exact' in m) {
    const w = ic ? m.exact.toLowerCase() : m.exact;
    return ic ? (v) => v.length === w.length && regionEqualsIgnoreCase(v, 0, w) : (v) => v === w;
  }
  if ('prefix' in m) {
    const w = ic ? m.prefix.toLowerCase() : m.prefix;
    return ic ? (v) => v.length >= w.length && regionEqualsIgnoreCase(v, 0, w) : (v) => v.startsWith(w);
  }
  if ('suffix' in m) {
    const w = ic ? m.suffix.toLowerCase() : m.suffix;
    return ic ? (v) => v.length >= w.length && regionEqualsIgnoreCase(v, v.length - w.length, w) : (v) => v.endsWith(w);
  }
  if ('contains' in m) {
    const w = ic ? m.contains.toLowerCase() : m.contains;
    return ic ? (v) => v.toLowerCase().includes(w) : (v) => v.includes(w);
  }
  // RE2 semantics: the whole value; `.` is any character but a newline. ignore_case does not apply.
  const re = m.safeRegex.regex;
  if (re === '.+') return (v) => v.length > 0 && v.indexOf('\n') < 0;
  if (re === '.*') return (v) => v.indexOf('\n') < 0;
  const compiled = compileRegex(re);
  return (v) => compiled.test(v);
}

// ---------------------------------------------------------------------------------------------
// request accessors

let lastPath = '';
let lastPathOnly = '';

/** Envoy's url_path and uri_template match the path with its query string and fragment removed. */
function pathWithoutQuery(p: string): string {
  if (p === lastPath) return lastPathOnly; // several path matchers look at the same request
  let out = p;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) {
      out = p.slice(0, i);
      break;
    }
  }
  lastPath = p;
  lastPathOnly = out;
  return out;
}

function headerGetter(lowerName: string): (r: AuthzRequest) => string | undefined {
  switch (lowerName) {
    case ':authority':
    case 'host':
      // HTTP/1's Host is HTTP/2's :authority
      return (r) => r.host ?? (r.headers?.[lowerName] as string | undefined);
    case ':method':
      return (r) => r.method;
    case ':path':
      return (r) => r.path;
  }
  return (r) => {
    if (r.header) return r.header(lowerName);
    const v = r.headers?.[lowerName];
    if (v === undefined || typeof v === 'string') return v;
    return v.length === 0 ? undefined : v.length === 1 ? v[0] : v.join(',');
  };
}

function compileHeader(h: HeaderMatcher): Pred {
  const get = headerGetter(h.name.toLowerCase());
  let p: Pred;
  if ('presentMatch' in h) {
    const want = h.presentMatch;
    p = (r) => (get(r) !== undefined) === want;
  } else {
    const sm: StringMatcher =
      'stringMatch' in h
        ? h.stringMatch
        : 'safeRegexMatch' in h
          ? { safeRegex: h.safeRegexMatch }
          : 'exactMatch' in h
            ? { exact: h.exactMatch }
            : 'prefixMatch' in h
              ? { prefix: h.prefixMatch }
              : { suffix: h.suffixMatch };
    const test = compileStringMatcher(sm);
    p = (r) => {
      const v = get(r);
      return v !== undefined && test(v);
    };
  }
  return h.invertMatch ? (r) => !p(r) : p;
}

function cidrSet(ranges: readonly CidrRange[]): CidrSet {
  return new CidrSet(
    ranges.map((c) => {
      const parsed = parseCidr(`${c.addressPrefix}/${c.prefixLen}`);
      if (!parsed) throw new Error(`bad CIDR range ${c.addressPrefix}/${c.prefixLen}`);
      return parsed;
    }),
  );
}

type IpSource = 'direct' | 'remote' | 'destination';
const ipOf: Record<IpSource, (r: AuthzRequest) => string> = {
  direct: (r) => r.sourceIp,
  remote: (r) => r.remoteIp ?? r.sourceIp,
  destination: (r) => r.destinationIp,
};

function compileIps(src: IpSource, ranges: readonly CidrRange[]): Pred {
  const set = cidrSet(ranges);
  const get = ipOf[src];
  // A BlockList lookup costs ~0.4 µs; a connection's requests (and most of a sidecar's traffic)
  // repeat the same addresses, so the last answer is kept.
  let lastIp = '';
  let lastHit = false;
  return (r) => {
    const ip = get(r);
    if (ip !== lastIp) {
      lastHit = set.longestMatch(ip) >= 0;
      lastIp = ip;
    }
    return lastHit;
  };
}

/** Envoy's uri_template: `*` one path segment, `**` any number of segments (possibly none). */
export function compileUriTemplate(template: string): CompiledRegex {
  const lit = "a-zA-Z0-9\\-._~%!$&'()+,;:@";
  let re = '';
  for (let i = 0; i < template.length; ) {
    if (template.startsWith('**', i)) {
      re += `[${lit}/]*`;
      i += 2;
    } else if (template[i] === '*') {
      re += `[${lit}]+`;
      i += 1;
    } else {
      re += template[i].replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
      i += 1;
    }
  }
  return compileRegex(re); // whole-value match, linear time
}

// ---------------------------------------------------------------------------------------------
// metadata

function compileValue(m: ValueMatcher): (v: unknown) => boolean {
  if ('stringMatch' in m) {
    const test = compileStringMatcher(m.stringMatch);
    return (v) => typeof v === 'string' && test(v);
  }
  if ('listMatch' in m) {
    const inner = compileValue(m.listMatch.oneOf);
    return (v) => {
      if (!Array.isArray(v)) return false;
      for (let i = 0; i < v.length; i++) if (inner(v[i])) return true;
      return false;
    };
  }
  if ('orMatch' in m) {
    const ms = m.orMatch.valueMatchers.map(compileValue);
    return (v) => {
      for (let i = 0; i < ms.length; i++) if (ms[i](v)) return true;
      return false;
    };
  }
  const want = m.presentMatch;
  return (v) => (v !== undefined && v !== null) === want;
}

function lookup(root: unknown, keys: readonly string[], from: number): unknown {
  let v = root;
  for (let i = from; i < keys.length; i++) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[keys[i]];
  }
  return v;
}

function compileMetadata(m: MetadataMatcher): Pred {
  const keys = m.path.map((s) => s.key);
  const test = compileValue(m.value);
  let get: (r: AuthzRequest) => unknown;
  if (m.filter === JWT_AUTHN_FILTER && keys[0] === 'payload') {
    const claim = keys.length === 2 ? keys[1] : undefined;
    get = (r) => {
      if (r.jwtClaims) return lookup(r.jwtClaims, keys, 1);
      const rp = r.requestPrincipal;
      if (rp === undefined || (claim !== 'iss' && claim !== 'sub')) return undefined;
      const slash = rp.lastIndexOf('/');
      return claim === 'iss' ? (slash < 0 ? rp : rp.slice(0, slash)) : slash < 0 ? '' : rp.slice(slash + 1);
    };
  } else {
    const filter = m.filter;
    get = (r) => lookup(r.filterMetadata?.[filter], keys, 0);
  }
  return m.invert ? (r) => !test(get(r)) : (r) => test(get(r));
}

// ---------------------------------------------------------------------------------------------
// permissions and principals

function all(preds: Pred[]): Pred {
  if (preds.length === 0) return TRUE;
  if (preds.length === 1) return preds[0];
  if (preds.length === 2) {
    const [a, b] = preds;
    return (r) => a(r) && b(r);
  }
  return (r) => {
    for (let i = 0; i < preds.length; i++) if (!preds[i](r)) return false;
    return true;
  };
}

function some(preds: Pred[]): Pred {
  if (preds.length === 0) return FALSE;
  if (preds.length === 1) return preds[0];
  if (preds.length === 2) {
    const [a, b] = preds;
    return (r) => a(r) || b(r);
  }
  return (r) => {
    for (let i = 0; i < preds.length; i++) if (preds[i](r)) return true;
    return false;
  };
}

/** OR over children; runs of IP ranges on the same address are merged into one CIDR set. */
function compileOr<T>(children: readonly T[], ipOfChild: (c: T) => [IpSource, CidrRange] | undefined, compile: (c: T) => Pred): Pred {
  const ips = new Map<IpSource, CidrRange[]>();
  const rest: Pred[] = [];
  for (const c of children) {
    const ip = ipOfChild(c);
    if (ip) {
      const list = ips.get(ip[0]) ?? [];
      list.push(ip[1]);
      ips.set(ip[0], list);
    } else rest.push(compile(c));
  }
  const preds = [...[...ips].map(([src, ranges]) => compileIps(src, ranges)), ...rest];
  return some(preds);
}

function permissionIp(p: Permission): [IpSource, CidrRange] | undefined {
  return 'destinationIp' in p ? ['destination', p.destinationIp] : undefined;
}

function principalIp(p: Principal): [IpSource, CidrRange] | undefined {
  if ('directRemoteIp' in p) return ['direct', p.directRemoteIp];
  if ('remoteIp' in p) return ['remote', p.remoteIp];
  return undefined;
}

export function compilePermission(p: Permission): Pred {
  if ('andRules' in p) return all(p.andRules.rules.map(compilePermission));
  if ('orRules' in p) return compileOr(p.orRules.rules, permissionIp, compilePermission);
  if ('notRule' in p) {
    const inner = compilePermission(p.notRule);
    return (r) => !inner(r);
  }
  if ('any' in p) return p.any ? TRUE : FALSE;
  if ('header' in p) return compileHeader(p.header);
  if ('urlPath' in p) {
    const test = compileStringMatcher(p.urlPath.path);
    return (r) => r.path !== undefined && test(pathWithoutQuery(r.path));
  }
  if ('uriTemplate' in p) {
    const re = compileUriTemplate(p.uriTemplate.typedConfig.pathTemplate);
    return (r) => r.path !== undefined && re.test(pathWithoutQuery(r.path));
  }
  if ('destinationIp' in p) return compileIps('destination', [p.destinationIp]);
  if ('destinationPort' in p) {
    const port = p.destinationPort;
    return (r) => r.destinationPort === port;
  }
  if ('requestedServerName' in p) {
    const test = compileStringMatcher(p.requestedServerName);
    return (r) => test(r.sni ?? '');
  }
  if ('metadata' in p) return compileMetadata(p.metadata);
  throw new Error(`unsupported RBAC permission ${JSON.stringify(p)}`);
}

export function compilePrincipal(p: Principal): Pred {
  if ('andIds' in p) return all(p.andIds.ids.map(compilePrincipal));
  if ('orIds' in p) return compileOr(p.orIds.ids, principalIp, compilePrincipal);
  if ('notId' in p) {
    const inner = compilePrincipal(p.notId);
    return (r) => !inner(r);
  }
  if ('any' in p) return p.any ? TRUE : FALSE;
  if ('authenticated' in p) {
    // Only an mTLS peer is authenticated: a plaintext request never matches, whatever the matcher.
    const m = p.authenticated.principalName;
    if (!m) return (r) => r.peerPrincipal !== undefined;
    const test = compileStringMatcher(m);
    return (r) => r.peerPrincipal !== undefined && test(r.peerPrincipal);
  }
  if ('directRemoteIp' in p) return compileIps('direct', [p.directRemoteIp]);
  if ('remoteIp' in p) return compileIps('remote', [p.remoteIp]);
  if ('header' in p) return compileHeader(p.header);
  if ('metadata' in p) return compileMetadata(p.metadata);
  throw new Error(`unsupported RBAC principal ${JSON.stringify(p)}`);
}

// ---------------------------------------------------------------------------------------------
// RBAC configs

/** One compiled envoy.config.rbac.v3.RBAC. */
export interface CompiledRbac {
  readonly action: RbacAction;
  /** Every policy in name order and whether it matches (no short cut: for explain). */
  matchAll(r: AuthzRequest): { name: string; matched: boolean }[];
  /** The effective policy: the first (in name order) that matches; undefined when none does. */
  match(r: AuthzRequest): string | undefined;
  /** The decision this config makes on its own. */
  decide(r: AuthzRequest): RbacDecision;
}

const ALLOWED: RbacDecision = Object.freeze({ allowed: true });
const DENIED: RbacDecision = Object.freeze({ allowed: false });

export function compileRbac(rbac: Rbac): CompiledRbac {
  const names = Object.keys(rbac.policies).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const preds = names.map((n) => {
    const p = rbac.policies[n];
    return all([some(p.permissions.map(compilePermission)), some(p.principals.map(compilePrincipal))]);
  });
  const allowIfMatch = rbac.action !== 'DENY';
  const onMatch = names.map((matchedPolicy) => Object.freeze({ allowed: allowIfMatch, matchedPolicy }));
  const onNoMatch = rbac.action === 'ALLOW' ? DENIED : ALLOWED;
  const index = (r: AuthzRequest): number => {
    for (let i = 0; i < preds.length; i++) if (preds[i](r)) return i;
    return -1;
  };
  return {
    action: rbac.action,
    matchAll: (r) => names.map((name, i) => ({ name, matched: preds[i](r) })),
    match(r) {
      const i = index(r);
      return i < 0 ? undefined : names[i];
    },
    decide(r) {
      const i = index(r);
      return i < 0 ? onNoMatch : onMatch[i];
    },
  };
}

/** A compiled RBAC filter (HTTP or network): enforced rules and shadow rules. */
export interface CompiledRbacFilter {
  readonly rules?: CompiledRbac;
  readonly shadowRules?: CompiledRbac;
  readonly shadowRulesStatPrefix: string;
  /** The enforced decision; no rules means allowed. */
  check(r: AuthzRequest): RbacDecision;
}

export function compileRbacFilter(cfg: RbacFilterConfig): CompiledRbacFilter {
  const rules = cfg.rules ? compileRbac(cfg.rules) : undefined;
  const shadowRules = cfg.shadowRules ? compileRbac(cfg.shadowRules) : undefined;
  return {
    ...(rules ? { rules } : {}),
    ...(shadowRules ? { shadowRules } : {}),
    shadowRulesStatPrefix: cfg.shadowRulesStatPrefix,
    check: rules ? (r) => rules.decide(r) : () => ALLOWED,
  };
}

// ---------------------------------------------------------------------------------------------
// A workload's filter chain: CUSTOM → AUDIT → DENY → ALLOW, as istiod builds it (config/istio/authz-builder.ts)

/** The outcome for one request (or TCP connection). Returned objects may be shared: never mutate them. */
export interface AuthzDecision {
  readonly allowed: boolean;
  /** The policy behind a denial (the DENY policy that matched) or an allow (the ALLOW policy that matched). */
  readonly matchedPolicy?: string;
  /**
   * The request matched a CUSTOM policy: the caller must run this ext_authz filter (one of the
   * compiled filters' own config objects), and allow the request only if both `allowed` and the
   * authorization service say so.
   */
  readonly extAuthz?: { readonly config: HttpExtAuthz | NetworkExtAuthz; readonly policy: string };
  /** An AUDIT policy matched: the request should be audited. */
  readonly auditPolicy?: string;
}

/** A dry-run (shadow rules) result, for the caller's `<prefix>shadow_allowed/denied` stats and logs. */
export interface ShadowResult {
  readonly statPrefix: string;
  readonly allowed: boolean;
  readonly matchedPolicy?: string;
}

/** One filter's policies and whether each matches a request (outrigger explain). */
export interface PolicyEvaluation {
  /** The filter's action; CUSTOM: the shadow rules that turn an ext_authz call on. */
  readonly action: RbacAction | 'CUSTOM';
  /** Dry-run rules: they decide nothing. */
  readonly shadow: boolean;
  /** Every policy in name order. */
  readonly policies: readonly { readonly name: string; readonly matched: boolean }[];
}

export interface AuthzEngine {
  check(r: AuthzRequest): AuthzDecision;
  /** Every filter's policies evaluated one by one, in chain order (what check decides from). */
  explain(r: AuthzRequest): PolicyEvaluation[];
  /** Whether any filter has dry-run policies (then `shadow()` has something to say). */
  readonly hasShadowRules: boolean;
  /** Dry-run results of every filter with shadow rules, except CUSTOM's bookkeeping ones. */
  shadow(r: AuthzRequest): ShadowResult[];
}

interface Step {
  filter: CompiledRbacFilter;
  /** The ext_authz filter following this RBAC filter (CUSTOM), enabled by its shadow rules' policy id. */
  ext?: { config: HttpExtAuthz | NetworkExtAuthz; prefix: string };
}

/**
 * Compiles a workload's authorization filters (HTTP or TCP) into one check. With
 * no filters every request is allowed.
 */
/** The dynamic metadata key (after the shadow rules' stat prefix) where RBAC leaves its shadow effective policy. */
const SHADOW_EFFECTIVE_POLICY_ID_KEY = 'shadow_effective_policy_id';

export function compileAuthzFilters(filters: readonly AuthzFilter[]): AuthzEngine {
  const steps: Step[] = [];
  for (const f of filters) {
    if (f.name === 'envoy.filters.http.ext_authz' || f.name === 'envoy.filters.network.ext_authz') {
      // Istio's pairing: the RBAC filter before it records the CUSTOM policy that matched (shadow
      // rules) and filterEnabledMetadata turns this filter on for a prefix of that policy id
      const prev = steps[steps.length - 1];
      const m = f.typedConfig.filterEnabledMetadata;
      const v = m?.value;
      const prefix = v && 'stringMatch' in v && 'prefix' in v.stringMatch ? v.stringMatch.prefix : undefined;
      if (!prev?.filter.shadowRules || !m || prefix === undefined || m.invert || !m.path.at(-1)?.key.endsWith(SHADOW_EFFECTIVE_POLICY_ID_KEY)) {
        throw new Error(`${f.name}: only an ext_authz filter enabled by the preceding RBAC filter's shadow effective policy id (a string prefix) is supported`);
      }
      prev.ext = { config: f.typedConfig, prefix };
    } else {
      steps.push({ filter: compileRbacFilter(f.typedConfig) });
    }
  }
  const shadowSteps = steps.filter((s) => s.filter.shadowRules && !s.ext);
  const ALLOW_ALL: AuthzDecision = ALLOWED;
  return {
    hasShadowRules: shadowSteps.length > 0,
    check(r) {
      let ext: AuthzDecision['extAuthz'];
      let audit: string | undefined;
      let allowMatch: RbacDecision | undefined;
      for (let i = 0; i < steps.length; i++) {
        const { filter, ext: e } = steps[i];
        if (e && filter.shadowRules) {
          const id = filter.shadowRules.match(r);
          if (id !== undefined && id.startsWith(e.prefix)) ext = { config: e.config, policy: id };
        }
        const rules = filter.rules;
        if (!rules) continue;
        const d = rules.decide(r);
        if (rules.action === 'LOG') {
          if (d.matchedPolicy !== undefined && audit === undefined) audit = d.matchedPolicy;
          continue;
        }
        if (!d.allowed) return audit ? { ...d, auditPolicy: audit } : d;
        if (rules.action === 'ALLOW') allowMatch = d;
      }
      const base = allowMatch ?? ALLOW_ALL;
      if (!ext && !audit) return base;
      return { ...base, ...(ext ? { extAuthz: ext } : {}), ...(audit ? { auditPolicy: audit } : {}) };
    },
    explain(r) {
      const out: PolicyEvaluation[] = [];
      for (const { filter, ext } of steps) {
        if (ext && filter.shadowRules) out.push({ action: 'CUSTOM', shadow: false, policies: filter.shadowRules.matchAll(r) });
        else if (filter.shadowRules) out.push({ action: filter.shadowRules.action, shadow: true, policies: filter.shadowRules.matchAll(r) });
        if (filter.rules) out.push({ action: filter.rules.action, shadow: false, policies: filter.rules.matchAll(r) });
      }
      return out;
    },
    shadow(r) {
      const out: ShadowResult[] = [];
      for (const s of shadowSteps) {
        const d = s.filter.shadowRules!.decide(r);
        out.push({ statPrefix: s.filter.shadowRulesStatPrefix, allowed: d.allowed, ...(d.matchedPolicy ? { matchedPolicy: d.matchedPolicy } : {}) });
      }
      return out;
    },
  };
}

/** Policy evaluations in words, one line per filter: `DENY: 2 policies, matched ns[foo]-policy[x]-rule[0]`. */
export function describePolicyEvaluations(list: readonly PolicyEvaluation[]): string[] {
  return list.map((e) => {
    const matched = e.policies.filter((p) => p.matched).map((p) => p.name);
    const n = e.policies.length;
    return `${e.action}${e.shadow ? ' (dry run)' : ''}: ${n} polic${n === 1 ? 'y' : 'ies'}, ${matched.length ? `matched ${matched.join(', ')}` : 'none matched'}`;
  });
}
