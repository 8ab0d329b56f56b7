/**
 * security.istio.io AuthorizationPolicy (v1, v1beta1): strict validation with Istio's rules
 * (pkg/config/validation ValidateAuthorizationPolicy and pkg/config/security), every error naming
 * its field. The result feeds config/istio/authz-builder.ts.
 */
import { parseCidr } from '../../common/cidr.js';
import type { Field } from '../reader.js';
import type { ResourceMeta } from './resources.js';
import { describeResource } from './parse.js';

/** The API versions accepted for `security.istio.io`. */
export const AUTHORIZATION_POLICY_VERSIONS: readonly string[] = ['v1', 'v1beta1'];
/** Annotation that turns a policy into a dry run (shadow rules: evaluated and logged, not enforced). */
export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

/** Rule.from[].source. Every list is [] when unset. */
export interface AuthzSourceSpec {
  principals: string[];
  notPrincipals: string[];
  requestPrincipals: string[];
  notRequestPrincipals: string[];
  namespaces: string[];
  notNamespaces: string[];
  serviceAccounts: string[];
  notServiceAccounts: string[];
  trustDomains: string[];
  notTrustDomains: string[];
  ipBlocks: string[];
  notIpBlocks: string[];
  remoteIpBlocks: string[];
  notRemoteIpBlocks: string[];
}

/** Rule.to[].operation. Every list is [] when unset; ports are the strings Istio carries. */
export interface AuthzOperationSpec {
  hosts: string[];
  notHosts: string[];
  ports: string[];
  notPorts: string[];
  methods: string[];
  notMethods: string[];
  paths: string[];
  notPaths: string[];
}

/** Rule.when[]: `key` is one of Istio's condition attributes. */
export interface AuthzConditionSpec {
  key: string;
  values: string[];
  notValues: string[];
}

export interface AuthzRuleSpec {
  /** [] when `from` is absent (any source). */
  from: AuthzSourceSpec[];
  /** [] when `to` is absent (any operation). */
  to: AuthzOperationSpec[];
  when: AuthzConditionSpec[];
}

export interface AuthorizationPolicySpec {
  meta: ResourceMeta;
  /** selector.matchLabels; undefined: every workload of the namespace (or of the mesh, in the root namespace). */
  selector?: Record<string, string>;
  action: AuthzAction;
  /** CUSTOM only: provider.name (a MeshConfig extension provider). */
  provider?: string;
  /** [] when `rules` is absent: the policy never matches (an ALLOW policy then denies everything). */
  rules: AuthzRuleSpec[];
  /** metadata.annotations["istio.io/dry-run"] = true. */
  dryRun: boolean;
}

const SPEC_FIELDS = ['selector', 'targetRef', 'targetRefs', 'action', 'rules', 'provider'];
const ACTIONS: readonly AuthzAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];
const SOURCE_FIELDS: readonly (keyof AuthzSourceSpec)[] = [
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains', 'ipBlocks', 'notIpBlocks',
  'remoteIpBlocks', 'notRemoteIpBlocks',
];
const OPERATION_FIELDS: readonly (keyof AuthzOperationSpec)[] = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'];
/** Source fields a TCP connection can be checked against (Istio's `tcpRulesInFrom`). */
const TCP_SOURCE_FIELDS: readonly (keyof AuthzSourceSpec)[] = [
  'principals', 'notPrincipals', 'ipBlocks', 'notIpBlocks', 'namespaces', 'notNamespaces', 'remoteIpBlocks',
  'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains',
];
/** Fields CUSTOM cannot use (ext_authz sees the request before any identity is checked). */
const CUSTOM_FORBIDDEN_SOURCE: readonly (keyof AuthzSourceSpec)[] = [
  'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'principals', 'notPrincipals',
  'requestPrincipals', 'notRequestPrincipals',
];

/** `when` keys Istio accepts, and how their values are checked. */
type ValueKind = 'string' | 'ip' | 'port';
const CONDITION_KEYS: Record<string, ValueKind> = {
  'source.ip': 'ip',
  'remote.ip': 'ip',
  'source.namespace': 'string',
  'source.serviceAccount': 'string',
  'source.principal': 'string',
  'request.auth.principal': 'string',
  'request.auth.audiences': 'string',
  'request.auth.presenter': 'string',
  'destination.ip': 'ip',
  'destination.port': 'port',
  'connection.sni': 'string',
};
/** Keys of the form `prefix[name]`. */
const MAP_KEY_PREFIXES = ['request.headers', 'request.auth.claims', 'experimental.envoy.filters.'];

/** Go's strconv.ParseBool, which Istio uses for the dry-run annotation. */
const BOOLS: Record<string, boolean> = {
  '1': true, t: true, T: true, TRUE: true, true: true, True: true,
  '0': false, f: false, F: false, FALSE: false, false: false, False: false,
};

/**
 * Parses one AuthorizationPolicy spec. `metadata` (the resource's metadata field) is read for the
 * `istio.io/dry-run` annotation; without it the policy is enforced.
 */
export function parseAuthorizationPolicy(spec: Field, meta: ResourceMeta, warnings: string[], metadata?: Field): AuthorizationPolicySpec {
  spec.object(SPEC_FIELDS);
  const who = describeResource(meta);
  for (const k of ['targetRef', 'targetRefs']) {
    const f = spec.at(k);
    if (f.present && !(Array.isArray(f.value) && f.value.length === 0)) {
      f.fail(`${k} is not supported yet: Outrigger applies AuthorizationPolicies to sidecars through selector.matchLabels only`);
    }
  }

  let selector: Record<string, string> | undefined;
  const sel = spec.at('selector');
  if (sel.present) {
    sel.object(['matchLabels']);
    const labels = sel.at('matchLabels');
    selector = labels.stringMap();
    for (const [k, v] of Object.entries(selector)) {
      if (k === '') labels.fail('empty label key is not supported in selector');
      if (k.includes('*') || v.includes('*')) labels.at(k).fail(`wildcard is not supported in selector: "${k}=${v}"`);
    }
    if (Object.keys(selector).length === 0) warnings.push(`${who}: workload selector specified without labels (it selects every workload)`);
  }

  const action = spec.at('action').optOneOf(ACTIONS) ?? 'ALLOW';
  const rulesField = spec.at('rules');
  const rules = rulesField.optList();
  const prov = spec.at('provider');
  let provider: string | undefined;
  if (prov.present) {
    prov.object(['name']);
    provider = prov.at('name').optString();
    if (action !== 'CUSTOM') prov.fail(`provider must not be set with a non-CUSTOM action, found ${action}`);
  }
  if ((action === 'CUSTOM' || action === 'DENY') && !rulesField.present) {
    rulesField.fail(`${action} action without rules is meaningless as it will never be triggered; add an empty rule {} to match every request`);
  }
  if (action === 'CUSTOM' && !provider) prov.at('name').fail('provider.name must not be empty with the CUSTOM action');

  const parsedRules = rules.map((r, i) => parseRule(r, action, warnings, `${who}: rules[${i}]`));

  let dryRun = false;
  const ann = metadata?.present ? metadata.at('annotations') : undefined;
  if (ann?.present) {
    const v = ann.object().at(DRY_RUN_ANNOTATION);
    if (v.present) {
      const s = typeof v.value === 'boolean' ? String(v.value) : v.string();
      if (!(s in BOOLS)) v.fail(`${DRY_RUN_ANNOTATION} must be "true" or "false", got "${s}"`);
      dryRun = BOOLS[s];
    }
  }
  return { meta, ...(selector ? { selector } : {}), action, ...(provider ? { provider } : {}), rules: parsedRules, dryRun };
}

function parseRule(r: Field, action: AuthzAction, warnings: string[], where: string): AuthzRuleSpec {
  if (!r.present) r.fail('a rule must not be null (use {} to match every request)');
  r.object(['from', 'to', 'when']);
  const fromF = r.at('from');
  const toF = r.at('to');
  if (fromF.present && fromF.list().length === 0) fromF.fail('from must not be an empty list (omit it to match any source)');
  if (toF.present && toF.list().length === 0) toF.fail('to must not be an empty list (omit it to match any operation)');

  let tcpInFrom = false;
  const from = fromF.optList().map((f) => {
    if (!f.present) f.fail('a from entry must not be null');
    f.object(['source']);
    const s = f.at('source');
    if (!s.present) s.fail('from.source must be set');
    const src = parseSource(s, action);
    if (TCP_SOURCE_FIELDS.some((k) => s.at(k).present)) tcpInFrom = true;
    return src;
  });
  let tcpInTo = false;
  const to = toF.optList().map((t) => {
    if (!t.present) t.fail('a to entry must not be null');
    t.object(['operation']);
    const o = t.at('operation');
    if (!o.present) o.fail('to.operation must be set');
    const op = parseOperation(o);
    if (o.at('ports').present || o.at('notPorts').present) tcpInTo = true;
    return op;
  });
  const whenF = r.at('when');
  const when = whenF.optList().map((c) => parseCondition(c, action));
  if (whenF.present && when.length === 0) warnings.push(`${where}: when is an empty list (no condition)`);

  if (action === 'DENY' && ((from.length > 0 && to.length === 0 && !tcpInFrom) || (to.length > 0 && !tcpInTo))) {
    warnings.push(
      `${where}: this DENY rule uses only HTTP attributes, so it denies all traffic to the TCP ports under its scope; ` +
        'it is recommended to explicitly specify the port',
    );
  }
  return { from, to, when };
}

function parseSource(s: Field, action: AuthzAction): AuthzSourceSpec {
  s.object(SOURCE_FIELDS as string[]);
  const out = {} as AuthzSourceSpec;
  for (const k of SOURCE_FIELDS) out[k] = s.at(k).optList().map((f) => f.string());
  if (SOURCE_FIELDS.every((k) => out[k].length === 0)) s.fail('from.source must not be empty (set at least one field)');
  if (action === 'CUSTOM') {
    for (const k of CUSTOM_FORBIDDEN_SOURCE) if (out[k].length) s.at(k).fail(`${k} is not supported with the CUSTOM action`);
  }
  const identity = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'] as const;
  if (identity.some((k) => out[k].length) && (out.serviceAccounts.length || out.notServiceAccounts.length)) {
    s.at(out.serviceAccounts.length ? 'serviceAccounts' : 'notServiceAccounts').fail('serviceAccounts cannot be set with namespaces or principals');
  }
  for (const k of ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'trustDomains', 'notTrustDomains'] as const) {
    s.at(k).optList().forEach((f) => checkMatchValue(f));
  }
  for (const k of ['requestPrincipals', 'notRequestPrincipals'] as const) s.at(k).optList().forEach((f) => checkMatchValue(f));
  for (const k of ['serviceAccounts', 'notServiceAccounts'] as const) s.at(k).optList().forEach(checkServiceAccount);
  for (const k of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) s.at(k).optList().forEach(checkIp);
  return out;
}

function parseOperation(o: Field): AuthzOperationSpec {
  o.object(OPERATION_FIELDS as string[]);
  const out = {} as AuthzOperationSpec;
  for (const k of OPERATION_FIELDS) out[k] = o.at(k).optList().map((f) => f.string());
  if (OPERATION_FIELDS.every((k) => out[k].length === 0)) o.fail('to.operation must not be empty (set at least one field)');
  for (const k of ['ports', 'notPorts'] as const) o.at(k).optList().forEach(checkPort);
  for (const k of ['hosts', 'notHosts', 'methods', 'notMethods'] as const) o.at(k).optList().forEach((f) => checkMatchValue(f));
  for (const k of ['paths', 'notPaths'] as const) o.at(k).optList().forEach(checkPath);
  return out;
}

function parseCondition(c: Field, action: AuthzAction): AuthzConditionSpec {
  if (!c.present) c.fail('a when condition must not be null');
  c.object(['key', 'values', 'notValues']);
  const keyF = c.at('key');
  const key = keyF.nonEmptyString();
  const kind = conditionKind(keyF, key);
  const values = c.at('values').optList().map((f) => f.string());
  const notValues = c.at('notValues').optList().map((f) => f.string());
  if (values.length === 0 && notValues.length === 0) c.fail(`at least one of values or notValues must be set for key ${key}`);
  if (action === 'CUSTOM' && (key === 'source.namespace' || key === 'source.serviceAccount' || key === 'source.principal' || key.startsWith('request.auth.'))) {
    keyF.fail(`${key} is not supported with the CUSTOM action`);
  }
  for (const list of ['values', 'notValues']) {
    for (const f of c.at(list).optList()) {
      if (kind === 'ip') checkIp(f);
      else if (kind === 'port') checkPort(f);
      else if (key === 'source.serviceAccount') checkServiceAccount(f);
      else checkMatchValue(f, key.startsWith('experimental.envoy.filters.'));
    }
  }
  return { key, values, notValues };
}

/** The value kind of a `when` key; fails with Istio's message for unknown or retired attributes. */
function conditionKind(f: Field, key: string): ValueKind {
  const direct = CONDITION_KEYS[key];
  if (direct) return direct;
  for (const prefix of MAP_KEY_PREFIXES) {
    if (!key.startsWith(prefix)) continue;
    if (prefix === 'request.auth.claims') {
      if (!nestedBracketNames(key.slice(prefix.length))) f.fail(`bad key (${key}): should have the format request.auth.claims[name] or request.auth.claims[a][b]`);
    } else {
      const open = key.indexOf('[');
      if (!(key.endsWith(']') && open > 0 && open < key.length - 2)) f.fail(`bad key (${key}): should have the format a[b]`);
      if (prefix === 'request.headers' && key.slice(prefix.length, open) !== '') f.fail(`bad key (${key}): should have the format request.headers[name]`);
    }
    return 'string';
  }
  if (key === 'destination.namespace') f.fail(`attribute ${key} is replaced by the metadata.namespace`);
  if (key.startsWith('destination.labels')) f.fail(`attribute ${key} is replaced by the workload selector`);
  if (key === 'destination.name' || key === 'destination.user') f.fail(`deprecated attribute ${key}: only supported in v1alpha1`);
  return f.fail(
    `unknown attribute: ${key}; supported: request.headers[<name>], source.ip, remote.ip, source.namespace, source.serviceAccount, ` +
      'source.principal, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[<name>], ' +
      'destination.ip, destination.port, connection.sni, experimental.envoy.filters.<filter>[<key>]',
  );
}

/** `[a][b][c]` → ['a', 'b', 'c']; undefined when malformed or empty. */
export function nestedBracketNames(s: string): string[] | undefined {
  if (!s.startsWith('[') || !s.endsWith(']')) return undefined;
  const names = s.slice(1, -1).split('][');
  return names.every((n) => n !== '' && !n.includes('[') && !n.includes(']')) ? names : undefined;
}

/**
 * A string match value: non-empty; `*` only as a whole-value presence match, a prefix (`foo*`) or a
 * suffix (`*foo`). Istio would take any other `*` literally, which is never what was meant.
 */
function checkMatchValue(f: Field, bracketList = false): void {
  let v = f.nonEmptyString();
  if (bracketList && v.startsWith('[') && v.endsWith(']')) v = v.slice(1, -1);
  if (v === '*') return;
  const inner = v.slice(1, -1);
  if (inner.includes('*') || (v.length > 1 && v.startsWith('*') && v.endsWith('*'))) {
    f.fail(`"${v}": "*" is only supported as the whole value, a prefix match ("abc*") or a suffix match ("*abc")`);
  }
}

function checkServiceAccount(f: Field): void {
  const v = f.nonEmptyString();
  if (v.includes('*')) f.fail(`"${v}": no form of wildcard is allowed in service accounts`);
  const parts = v.split('/');
  if (parts.length > 2 || parts.some((p) => p === '')) f.fail(`"${v}": a service account is "<name>" or "<namespace>/<name>"`);
}

function checkIp(f: Field): void {
  const v = f.nonEmptyString();
  if (!parseCidr(v)) f.fail(v.includes('/') ? `bad CIDR range (${v})` : `bad IP address (${v})`);
}

function checkPort(f: Field): void {
  const v = f.nonEmptyString();
  if (!/^\d+$/.test(v) || Number(v) > 65535) f.fail(`bad port (${v}): must be a number between 0 and 65535`);
}

/** Path template operators Istio accepts; `{*}` is one segment, `{**}` any number of segments. */
const MATCH_ONE = '{*}';
const MATCH_ANY = '{**}';
/** Istio's unsupported template syntax: named variables, `{}`, and bare `/*`, `/**`, `*​/`, `**​/`. */
const UNSUPPORTED_TEMPLATE = /\/\{\w+=\*\*?\}|\{\w*\}|\/\*\*?|\*\*?\//;
/** Characters a uri_template literal may hold (RFC 3986 pchar without `*` and `=`), plus the separator. */
const TEMPLATE_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@/]*$/;

export function isPathTemplate(v: string): boolean {
  return v.includes(MATCH_ONE) || v.includes(MATCH_ANY);
}

function checkPath(f: Field): void {
  const v = f.nonEmptyString();
  if (!isPathTemplate(v)) {
    checkMatchValue(f);
    return;
  }
  if (UNSUPPORTED_TEMPLATE.test(v)) f.fail(`"${v}": invalid or unsupported path template (only {*} and {**} operators)`);
  if (!v.startsWith('/')) f.fail(`"${v}": a path template must start with "/"`);
  const literal = v.split(MATCH_ANY).join('').split(MATCH_ONE).join('');
  if (!TEMPLATE_LITERAL.test(literal)) f.fail(`"${v}": a path template may only contain URL path characters besides {*} and {**}`);
  const anyAt = v.indexOf(MATCH_ANY);
  if (anyAt >= 0 && (v.indexOf(MATCH_ANY, anyAt + 1) >= 0 || v.indexOf(MATCH_ONE, anyAt) >= 0)) {
    f.fail(`"${v}": {**} must be the last operator of a path template`);
  }
  // Each operator must be a whole segment (Envoy's uri_template grammar).
  const segs = v.split('/');
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const last = i === segs.length - 1;
    if (isPathTemplate(seg) && seg !== MATCH_ONE && seg !== MATCH_ANY && !(last && isSuffixOperator(seg))) {
      f.fail(`"${v}": {*} and {**} must each be a whole path segment (or end the path with a suffix such as {**}.json)`);
    }
  }
}

/** `{**}.mpd` / `{*}.json` as the last segment: an operator followed by a literal suffix. */
function isSuffixOperator(seg: string): boolean {
  const op = seg.startsWith(MATCH_ANY) ? MATCH_ANY : seg.startsWith(MATCH_ONE) ? MATCH_ONE : '';
  return op !== '' && !isPathTemplate(seg.slice(op.length));
}
