/** Test helpers: YAML text → parsed PeerAuthentication / RequestAuthentication specs (security.istio.io). */
import { expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../src/config/errors.js';
import { Field } from '../../src/config/reader.js';
import { parseDocuments } from '../../src/config/source.js';
import type { ResourceMeta } from '../../src/config/istio/resources.js';
import { parsePeerAuthentication, type PeerAuthenticationSpec } from '../../src/config/istio/parse-peer-authentication.js';
import { parseRequestAuthentication, type RequestAuthenticationSpec } from '../../src/config/istio/parse-request-authentication.js';

export const CONFORMANCE = new URL('../../../shared/conformance/istio/', import.meta.url).pathname;

export interface SecurityPolicies {
  peer: PeerAuthenticationSpec[];
  request: RequestAuthenticationSpec[];
  warnings: string[];
}

/**
 * Parses the security.istio.io documents of a YAML text (other kinds are skipped). `order` continues
 * across calls through `start`, standing in for creation time.
 */
export function parseSecurity(text: string, file = 'test.yaml', defaultNamespace = 'default', start = 0): SecurityPolicies {
  const out: SecurityPolicies = { peer: [], request: [], warnings: [] };
  let order = start;
  for (const doc of parseDocuments(file, text)) {
    const v = doc.value as { kind?: string; apiVersion?: string; metadata?: { name?: string; namespace?: string }; spec?: unknown };
    if (v.kind !== 'PeerAuthentication' && v.kind !== 'RequestAuthentication') continue;
    expect(['security.istio.io/v1', 'security.istio.io/v1beta1']).toContain(v.apiVersion);
    const meta: ResourceMeta = {
      kind: v.kind,
      name: v.metadata?.name ?? '',
      namespace: v.metadata?.namespace ?? defaultNamespace,
      doc,
      order: order++,
    };
    const spec = new Field(v.spec ?? {}, ['spec'], { doc, kind: meta.kind, name: meta.name, namespace: meta.namespace });
    if (v.kind === 'PeerAuthentication') out.peer.push(parsePeerAuthentication(spec, meta, out.warnings));
    else out.request.push(parseRequestAuthentication(spec, meta, out.warnings));
  }
  return out;
}

export function parseSecurityFile(path: string, start = 0): SecurityPolicies {
  return parseSecurity(readFileSync(path, 'utf8'), path, 'default', start);
}

/** The ConfigError a parse raised; fails the test when parsing succeeds. */
export function securityError(text: string, file = 'test.yaml'): ConfigError {
  try {
    parseSecurity(text, file);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  expect.fail('expected the policy to be rejected');
}
