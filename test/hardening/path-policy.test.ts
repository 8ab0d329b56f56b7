// Path tricks against an AuthorizationPolicy that DENYs /admin, under each of Istio's
// meshConfig.pathNormalization modes, through real sockets (raw HTTP/1.1, so nothing is cleaned up
// by a client library): dot segments spelled every way, backslashes, `;params` on `..`, encoded
// slashes, double slashes, a `#fragment` and a raw NUL. A request either is denied (403), is
// refused as malformed (400), or reaches the app with a path that is not /admin. BASE leaves
// `//admin` and `%2F` alone: that is Istio's documented gap, closed by MERGE_SLASHES and
// DECODE_AND_MERGE_SLASHES (https://istio.io/latest/docs/ops/best-practices/security/#authorization-policies).
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { GATEWAY_ARGS, gatewayToApp } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const MODES = ['BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const;
type Mode = (typeof MODES)[number];
let app: Upstream;
const ports = new Map<Mode, number>();

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  const free = await freePorts(MODES.length);
  for (const [i, mode] of MODES.entries()) {
    ports.set(mode, free[i]);
    const yaml = [
      gatewayToApp(free[i], app.port),
      stringify({
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'deny-admin', namespace: 'default' },
        spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] },
      }),
      `apiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\npathNormalization: { normalization: ${mode} }\n`,
    ].join('---\n');
    await startProxy({ yaml, args: GATEWAY_ARGS });
  }
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

/** The status and, when the app was reached, the path it saw. */
async function get(mode: Mode, target: string): Promise<{ status: number; seen?: string }> {
  const before = app.requests.length;
  const r = await rawExchange(ports.get(mode)!, Buffer.from(`GET ${target} HTTP/1.1\r\nhost: shop.example.com\r\nconnection: close\r\n\r\n`, 'latin1'));
  const seen = app.requests.length > before ? app.requests.at(-1)!.url : undefined;
  return { status: rawStatus(r.data), ...(seen !== undefined ? { seen } : {}) };
}

/** Spellings of /admin that every mode resolves to /admin: always denied. */
const ALWAYS_DENIED = [
  '/admin',
  '/admin/users',
  '/./admin',
  '/public/../admin',
  '/public/%2e%2e/admin',
  '/public/%2E%2e/admin',
  '/%2e/admin',
  '/public/.%2e/admin',
  '/../../admin', // `..` stops at the root
  '/public\\..\\admin', // `\` is a separator
  '/\\admin/', // becomes //admin/ in BASE: see the mode-dependent cases
  '/public/..;x/admin', // params on a dot segment (CVE-2026-73551)
  '/%61dmin', // unreserved escapes are decoded
  '/admin?x=/public',
  '/admin#/public', // the fragment is cut off before authorization
];

describe('a DENY on /admin holds against path tricks', () => {
  for (const mode of MODES) {
    it(`${mode}: every spelling of /admin is denied, and the app never sees it`, async () => {
      for (const target of ALWAYS_DENIED) {
        if (target === '/\\admin/' && mode === 'BASE') continue;
        expect(await get(mode, target), `${mode} ${target}`).toEqual({ status: 403 });
      }
    });
  }

  it('double slashes: BASE forwards //admin untouched (Istio\'s documented gap); MERGE_SLASHES and DECODE_AND_MERGE_SLASHES deny it', async () => {
    expect(await get('BASE', '//admin')).toEqual({ status: 200, seen: '//admin' });
    expect(await get('BASE', '/\\admin/')).toEqual({ status: 200, seen: '//admin/' });
    for (const mode of ['MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const) {
      expect(await get(mode, '//admin'), mode).toEqual({ status: 403 });
      expect(await get(mode, '///admin///x'), mode).toEqual({ status: 403 });
      expect(await get(mode, '/\\admin/'), mode).toEqual({ status: 403 });
    }
  });

  it('encoded slashes: kept encoded (and so not /admin) unless DECODE_AND_MERGE_SLASHES, which decodes then denies', async () => {
    for (const mode of ['BASE', 'MERGE_SLASHES'] as const) {
      expect(await get(mode, '/%2Fadmin'), mode).toEqual({ status: 200, seen: '/%2Fadmin' });
      expect(await get(mode, '/public/..%2fadmin'), mode).toEqual({ status: 200, seen: '/public/..%2fadmin' });
    }
    expect(await get('DECODE_AND_MERGE_SLASHES', '/%2Fadmin')).toEqual({ status: 403 });
    expect(await get('DECODE_AND_MERGE_SLASHES', '/%2fadmin/x')).toEqual({ status: 403 });
    expect(await get('DECODE_AND_MERGE_SLASHES', '/public/..%2fadmin')).toEqual({ status: 403 });
    expect(await get('DECODE_AND_MERGE_SLASHES', '/public/..%5cadmin')).toEqual({ status: 403 });
  });
});

describe('fragments and NUL', () => {
  it('a #fragment never reaches the app, and cannot hide a dot segment', async () => {
    for (const mode of MODES) {
      expect(await get(mode, '/public#/../admin'), mode).toEqual({ status: 200, seen: '/public' });
      expect(await get(mode, '/adm#in'), mode).toEqual({ status: 200, seen: '/adm' });
      expect(await get(mode, '/public?q=1#frag'), mode).toEqual({ status: 200, seen: '/public?q=1' });
    }
  });

  it('a raw NUL anywhere in the request-target, or an encoded one in the path, is refused (400); nothing reaches the app', async () => {
    for (const mode of MODES) {
      for (const target of ['/admin\0', '/public\0/../admin', '/adm%00in', '/public/%00/../admin']) {
        expect(await get(mode, target), `${mode} ${JSON.stringify(target)}`).toEqual({ status: 400 });
      }
    }
  });
});
