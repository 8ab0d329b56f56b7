import { at, field, isObject, objectOf, stringOf } from './json-values.js';

/**
 * The Istio resource that produced a cluster or route (istioctl's describeManagement), from
 * `metadata.filter_metadata.istio.config`, a path like
 * `/apis/networking.istio.io/v1/namespaces/<ns>/destination-rule/<name>`: `<name>.<ns>`.
 * No such key: ''; a value that is not such a path: `<unknown>`.
 */
export function describeManagement(metadata: unknown): string {
  const istio = objectOf(at(metadata, 'filter_metadata', 'istio'));
  if (!istio || !('config' in istio)) return '';
  return renderConfigPath(stringOf(istio.config));
}

function renderConfigPath(path: string): string {
  if (!path.startsWith('/apis/networking.istio.io/')) return '<unknown>';
  const pieces = path.split('/');
  return pieces.length === 8 ? `${pieces[7]}.${pieces[5]}` : '';
}

/** A RouteMatch as istioctl prints it: `prefix*`, `PathPrefix:p`, `path`, `regex r` (headers are ignored). */
export function describeMatch(match: unknown): string {
  const m = objectOf(match) ?? {};
  const conditions: string[] = [];
  const prefix = stringOf(m.prefix);
  if (prefix !== '') conditions.push(`${prefix}*`);
  const separated = stringOf(field(m, 'path_separated_prefix'));
  if (separated !== '') conditions.push(`PathPrefix:${separated}`);
  const path = stringOf(m.path);
  if (path !== '') conditions.push(path);
  const regex = field(m, 'safe_regex');
  if (isObject(regex)) conditions.push(`regex ${stringOf(regex.regex)}`);
  return conditions.join(' ');
}
