/**
 * What a JwtAuthentication requires of each provider, for the shapes istiod generates
 * (pilot/pkg/security/authn convertToEnvoyJwtConfig) under one `prefix: /` rule:
 *
 * - `{providerName: P}`: a token for P must be present and valid;
 * - `{requiresAny: [P, allowMissing]}`: a token for P may be missing, but if present must be valid;
 * - `{requiresAll: [e1, e2, ...]}` of those, optionally inside
 *   `{requiresAny: [P1, P2, ..., requiresAll]}` (istiod's outer OR, for providers sharing a token
 *   location: the authenticator already accepts a token that one provider reading it verifies).
 *
 * Any other tree (allowMissingOrFailed, nested ORs of several providers, rules on other paths) is
 * refused with the reason, rather than evaluated differently from Envoy.
 */
import type { JwtAuthentication, JwtRequirement } from '../../config/envoy/jwt-authn.js';

export type ProviderPresence = 'required' | 'optional';

/** Provider name → whether its token must be present; providers the requirement never names are not verified. */
export function providerPresence(cfg: JwtAuthentication): Map<string, ProviderPresence> {
  const rules = cfg.rules ?? [];
  if (rules.length === 0) return new Map();
  if (rules.length > 1 || rules[0].match.prefix !== '/') throw new Error('jwt_authn: only one rule, matching prefix "/", is supported');
  const rule = rules[0];
  const req = rule.requires ?? (rule.requirementName !== undefined ? cfg.requirementMap?.[rule.requirementName] : undefined);
  if (!req) throw new Error(rule.requirementName !== undefined ? `jwt_authn: requirement "${rule.requirementName}" is not in requirementMap` : 'jwt_authn: the rule has no requirement');
  const out = new Map<string, ProviderPresence>();
  const add = (name: string, presence: ProviderPresence) => {
    if (!Object.hasOwn(cfg.providers, name)) throw new Error(`jwt_authn: requirement names provider "${name}", which is not in providers`);
    if (out.has(name) && out.get(name) !== presence) throw new Error(`jwt_authn: provider "${name}" is both required and allowed missing`);
    out.set(name, presence);
  };
  const term = (r: JwtRequirement): boolean => {
    if ('providerName' in r) add(r.providerName, 'required');
    else if ('requiresAny' in r && r.requiresAny.requirements.length === 2 && 'allowMissing' in r.requiresAny.requirements[1] && 'providerName' in r.requiresAny.requirements[0]) {
      add(r.requiresAny.requirements[0].providerName, 'optional');
    } else return false;
    return true;
  };
  const all = (r: JwtRequirement): boolean => 'requiresAll' in r && r.requiresAll.requirements.every(term);
  if (term(req) || all(req)) return out;
  if ('requiresAny' in req) {
    const list = req.requiresAny.requirements;
    const inner = list[list.length - 1];
    const outer = list.slice(0, -1);
    if (inner && all(inner) && outer.every((r) => 'providerName' in r && out.has(r.providerName))) return out;
  }
  throw new Error(`jwt_authn: requirement ${JSON.stringify(req)} is not a shape Outrigger evaluates (istiod's: providers each required or allowed missing)`);
}
