import { randomUUID } from 'node:crypto';
import type { HashPolicy } from '../config/snapshot.js';
import { getFromList } from './headers.js';
import type { RequestView } from './request-view.js';

/** A cookie's value from the Cookie header(s) (quotes removed), or undefined. */
export function cookieValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    for (const part of headers[i + 1].split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    }
  }
  return undefined;
}

/**
 * The key Envoy's hash_policy hashes for this request (header, cookie, source IP, query parameter),
 * or undefined when the request lacks it (the load balancer then picks at random).
 */
export function requestHashKey(policy: HashPolicy, headers: readonly string[], sourceIp: string, view: Pick<RequestView, 'queryParam'>): string | undefined {
  if ('header' in policy) return getFromList(headers, policy.header);
  if ('sourceIp' in policy) return sourceIp;
  if ('queryParameter' in policy) return view.queryParam(policy.queryParameter);
  return cookieValue(headers, policy.cookie.name);
}

/** A fresh value for a cookie policy with a ttl whose cookie the client does not have yet (16 hex digits). */
export function newCookieKey(): string {
  return randomUUID().replace(/-/g, '').slice(0, 16);
}

/** The Set-Cookie value Envoy's generated cookie carries: quoted value, Max-Age from the ttl, Path, HttpOnly. */
export function generatedCookie(cookie: { name: string; path?: string; ttlMs?: number }, key: string): string {
  return `${cookie.name}="${key}"; Max-Age=${Math.floor((cookie.ttlMs ?? 0) / 1000)}${cookie.path ? `; Path=${cookie.path}` : ''}; HttpOnly`;
}
