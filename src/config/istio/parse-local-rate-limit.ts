import type { Field } from '../reader.js';
import type { LocalRateLimitSpec, RateLimitKey, ResourceMeta } from './resources.js';

const SCOPES = { SHARED: 'shared', PER_WORKER: 'worker', PER_CONNECTION: 'connection' } as const;

/** policy.outrigger.io/v1alpha1 LocalRateLimit: strict, every field checked. */
export function parseLocalRateLimit(spec: Field, meta: ResourceMeta): LocalRateLimitSpec {
  spec.object(['selector', 'mode', 'rules', 'scope', 'status', 'rateLimitHeaders']);
  const selector = spec.at('selector').optObject(['matchLabels'])?.at('matchLabels').stringMap();
  const rules = spec.at('rules').list().map((r) => {
    r.object(['match', 'limit', 'by']);
    const m = r.at('match').optObject(['virtualService', 'route', 'host', 'port']);
    const match = m && {
      ...(m.at('virtualService').present ? { virtualService: m.at('virtualService').nonEmptyString() } : {}),
      ...(m.at('route').present ? { route: m.at('route').nonEmptyString() } : {}),
      ...(m.at('host').present ? { host: m.at('host').nonEmptyString().toLowerCase() } : {}),
      ...(m.at('port').present ? { port: m.at('port').port() } : {}),
    };
    if (match?.route && !match.virtualService) m!.at('route').fail('a route is named within its virtualService');
    const l = r.at('limit').object(['requests', 'per', 'burst']);
    const requests = l.at('requests').int(1, 2 ** 31 - 1);
    const intervalMs = l.at('per').durationMs();
    if (intervalMs < 50) l.at('per').fail('must be at least 50ms');
    const burst = l.at('burst').optInt(1, 2 ** 31 - 1) ?? requests;
    const b = r.at('by').optObject(['header', 'remoteAddress']);
    let by: RateLimitKey | undefined;
    if (b) {
      if (b.at('header').present === b.at('remoteAddress').present) b.fail('by is one of header or remoteAddress');
      by = b.at('header').present ? { header: b.at('header').nonEmptyString().toLowerCase() } : { remoteAddress: true };
      if (b.at('remoteAddress').present && b.at('remoteAddress').bool() !== true) b.at('remoteAddress').fail('remoteAddress: true, or leave it out');
    }
    return { ...(match && Object.keys(match).length ? { match } : {}), limit: { requests, intervalMs, burst }, ...(by ? { by } : {}) };
  });
  if (!rules.length) spec.at('rules').fail('at least one rule is needed');
  const status = spec.at('status').optInt(400, 599) ?? 429;
  return {
    meta,
    ...(selector && Object.keys(selector).length ? { selector } : {}),
    mode: spec.at('mode').optOneOf(['CLIENT', 'SERVER', 'CLIENT_AND_SERVER'] as const) ?? 'SERVER',
    rules,
    scope: SCOPES[spec.at('scope').optOneOf(['SHARED', 'PER_WORKER', 'PER_CONNECTION'] as const) ?? 'SHARED'],
    status,
    rateLimitHeaders: spec.at('rateLimitHeaders').optBool() ?? true,
  };
}
