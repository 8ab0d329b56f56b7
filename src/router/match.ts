import { compileRegex } from '../common/regex.js';
import type { HeaderMatcher, QueryParamMatcher, RouteMatch, StringMatch } from '../config/snapshot.js';
import type { RequestView } from './request-view.js';

type Predicate = (req: RequestView) => boolean;
type ValueTest = (value: string) => boolean;

/** Compiles a string matcher once; regexes must match the whole value (Envoy safe_regex). */
export function compileStringMatch(m: StringMatch): ValueTest {
  if ('regex' in m) {
    const re = compileRegex(m.regex);
    return (v) => re.test(v);
  }
  const [want, test] =
    'exact' in m
      ? [m.exact, (v: string, w: string) => v === w]
      : 'prefix' in m
        ? [m.prefix, (v: string, w: string) => v.startsWith(w)]
        : 'suffix' in m
          ? [m.suffix, (v: string, w: string) => v.endsWith(w)]
          : [m.contains, (v: string, w: string) => v.includes(w)];
  if (!m.ignoreCase) return (v) => test(v, want);
  const lower = want.toLowerCase();
  return (v) => test(v.toLowerCase(), lower);
}

function compilePath(m: StringMatch): Predicate {
  // Envoy: prefix looks at the whole :path; exact and regex at the path without its query string
  if ('prefix' in m) {
    if (m.prefix === '/' ) return () => true;
    const test = compileStringMatch(m);
    return (req) => test(req.path);
  }
  const test = compileStringMatch(m);
  return (req) => test(req.pathWithoutQuery);
}

/** A header matcher as a test of the header's value (undefined: absent), for any header lookup. */
export function compileHeaderValueTest(h: HeaderMatcher): (value: string | undefined) => boolean {
  const test = h.match ? compileStringMatch(h.match) : undefined;
  const matches = test ? (v: string | undefined) => v !== undefined && test(v) : (v: string | undefined) => v !== undefined;
  return h.invert ? (v) => !matches(v) : matches;
}

function compileHeader(h: HeaderMatcher): Predicate {
  const test = compileHeaderValueTest(h);
  const name = h.name;
  return (req) => test(req.header(name));
}

function compileQuery(q: QueryParamMatcher): Predicate {
  const test = q.match ? compileStringMatch(q.match) : undefined;
  return test
    ? (req) => {
        const v = req.queryParam(q.name);
        return v !== undefined && test(v);
      }
    : (req) => req.queryParam(q.name) !== undefined;
}

/** One closure for the whole match: path first (cheapest, most selective), then headers, then query. */
export function compileRouteMatch(m: RouteMatch): Predicate {
  const preds = [compilePath(m.path), ...m.headers.map(compileHeader), ...m.queryParams.map(compileQuery)];
  if (preds.length === 1) return preds[0];
  return (req) => {
    for (let i = 0; i < preds.length; i++) if (!preds[i](req)) return false;
    return true;
  };
}
