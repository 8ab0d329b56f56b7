// The one rule for the HTTP filter order (istiod's): authentication, then authorization (in the
// order the authz builder emits: CUSTOM's RBAC shadow + ext_authz, AUDIT, DENY, ALLOW), then fault,
// whatever order the translator adds them in; and a translated inbound chain follows it.
import { describe, expect, it } from 'vitest';
import { FAULT_FILTER, HEADER_MUTATION_FILTER, HTTP_EXT_AUTHZ_FILTER, HTTP_RBAC_FILTER, insertHttpFilters, JWT_AUTHN_FILTER } from '../../src/config/envoy/http-filters.js';
import type { HttpFilterConfig } from '../../src/config/snapshot.js';

const f = (name: string, tag = ''): HttpFilterConfig => ({ name, config: { tag } });
const names = (chain: HttpFilterConfig[]) => chain.map((x) => `${x.name.replace('envoy.filters.http.', '')}${(x.config as { tag: string }).tag}`);

const authz = [f(HTTP_RBAC_FILTER, ':shadow'), f(HTTP_EXT_AUTHZ_FILTER), f(HTTP_RBAC_FILTER, ':deny'), f(HTTP_RBAC_FILTER, ':allow')];
const ISTIO_ORDER = ['jwt_authn', 'rbac:shadow', 'ext_authz', 'rbac:deny', 'rbac:allow', 'fault'];

describe('insertHttpFilters (istiod order)', () => {
  const steps: Record<string, (chain: HttpFilterConfig[]) => void> = {
    jwt: (c) => insertHttpFilters(c, [f(JWT_AUTHN_FILTER)]),
    authz: (c) => insertHttpFilters(c, authz),
    fault: (c) => insertHttpFilters(c, [f(FAULT_FILTER)]),
  };
  const orders = [['jwt', 'authz', 'fault'], ['fault', 'authz', 'jwt'], ['authz', 'fault', 'jwt'], ['fault', 'jwt', 'authz']];
  it.each(orders)('added as %s, %s, %s: jwt_authn, authz as emitted, fault', (...order) => {
    const chain: HttpFilterConfig[] = [];
    for (const step of order) steps[step](chain);
    expect(names(chain)).toEqual(ISTIO_ORDER);
  });

  it('a filter outside the ranked phases stays after them', () => {
    const chain = [f(HEADER_MUTATION_FILTER)];
    insertHttpFilters(chain, [f(FAULT_FILTER)]);
    insertHttpFilters(chain, [f(JWT_AUTHN_FILTER)]);
    expect(names(chain)).toEqual(['jwt_authn', 'fault', 'header_mutation']);
  });
});
