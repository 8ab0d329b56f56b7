import type { HttpFilterFactory } from '../../http/filter.js';
import { headerMutationFilter } from './header_mutation/index.js';
import { faultFilter } from './fault/index.js';
import { rbacFilter } from './rbac/index.js';
import { jwtAuthnFilter } from './jwt_authn/index.js';

/** HTTP filters by Envoy name. The router is not listed: it always ends the chain. */
export const httpFilterFactories: ReadonlyMap<string, HttpFilterFactory<any>> = new Map<string, HttpFilterFactory<any>>([
  [headerMutationFilter.name, headerMutationFilter],
  [faultFilter.name, faultFilter],
  [rbacFilter.name, rbacFilter],
  [jwtAuthnFilter.name, jwtAuthnFilter],
]);
