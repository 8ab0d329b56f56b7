/** Loading AuthorizationPolicies from YAML for the authz tests (the config loader refuses the kind until it is wired in). */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../../src/config/errors.js';
import {
  AUTHORIZATION_POLICY_VERSIONS,
  parseAuthorizationPolicy,
  type AuthorizationPolicySpec,
} from '../../../src/config/istio/parse-authorization-policy.js';
import { Field } from '../../../src/config/reader.js';
import { parseDocuments } from '../../../src/config/source.js';

export const CONFORMANCE = new URL('../../../../shared/conformance/istio/', import.meta.url).pathname;
export const BUILDER_TESTDATA = `${CONFORMANCE}pilot/pkg/security/authz/builder/testdata/`;
export const DOCS_TASKS = `${CONFORMANCE}docs-tasks/security/`;

export interface Loaded {
  policies: AuthorizationPolicySpec[];
  warnings: string[];
  /** Documents of other kinds (RequestAuthentication...), by kind. */
  skipped: string[];
}

/** Parses the AuthorizationPolicies of a multi-document YAML text, as parse.ts will once it is wired in. */
export function loadPolicies(text: string, file = 'test.yaml', defaultNamespace = 'default'): Loaded {
  const warnings: string[] = [];
  const skipped: string[] = [];
  const policies: AuthorizationPolicySpec[] = [];
  parseDocuments(file, text).forEach((doc, order) => {
    const root = new Field(doc.value, [], { doc, kind: 'resource' });
    root.object();
    const kind = root.at('kind').nonEmptyString();
    if (kind !== 'AuthorizationPolicy') {
      skipped.push(kind);
      return;
    }
    const metaF = root.at('metadata').object();
    const name = metaF.at('name').nonEmptyString();
    const namespace = metaF.at('namespace').optString() ?? defaultNamespace;
    const top = new Field(doc.value, [], { doc, kind, name, namespace });
    const apiVersion = top.at('apiVersion').nonEmptyString();
    const [group, version] = apiVersion.split('/');
    if (group !== 'security.istio.io' || !AUTHORIZATION_POLICY_VERSIONS.includes(version)) {
      top.at('apiVersion').fail(`unsupported version ${apiVersion}; accepted: security.istio.io/v1, security.istio.io/v1beta1`);
    }
    const spec = top.at('spec');
    const specField = spec.present ? spec : new Field({}, ['spec'], top.ctx);
    policies.push(parseAuthorizationPolicy(specField, { kind, name, namespace, doc, order }, warnings, top.at('metadata')));
  });
  return { policies, warnings, skipped };
}

export function loadPolicyFile(path: string): Loaded {
  return loadPolicies(readFileSync(path, 'utf8'), path);
}

/** The ConfigError a parse raises. */
export function policyError(text: string): ConfigError {
  try {
    loadPolicies(text);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected the policy to be rejected');
}

/** The payload of a JWT (no verification: the tests hand claims to the engine as jwt_authn would). */
export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.trim().split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}
