import type { StringMatch } from '../../snapshot.js';
import { resourceError, type ResourceRef } from './context.js';

/** envoy.type.matcher.v3.StringMatcher in the plain form. */
export interface StringMatcherMessage {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: { regex?: string };
  ignore_case?: boolean;
  match_pattern?: string;
}

/**
 * A StringMatcher as the Snapshot holds it. An empty prefix, suffix or contains (proto validation:
 * min_len 1) or a matcher with no pattern is an error naming `field`; the regex is compiled when
 * the data plane compiles the Snapshot (RE2 syntax, whole-value match).
 */
export function decodeStringMatcher(m: StringMatcherMessage, ref: ResourceRef, field: string): StringMatch {
  const ignoreCase = m.ignore_case ? { ignoreCase: true } : {};
  switch (m.match_pattern) {
    case 'exact':
      return { exact: m.exact ?? '', ...ignoreCase };
    case 'prefix':
    case 'suffix':
    case 'contains': {
      const value = m[m.match_pattern];
      if (!value) throw resourceError(ref, field, `${m.match_pattern} must not be empty`);
      return { [m.match_pattern]: value, ...ignoreCase } as StringMatch;
    }
    case 'safe_regex':
      if (m.ignore_case) throw resourceError(ref, field, 'ignore_case has no effect on safe_regex (Envoy rejects it)');
      if (!m.safe_regex?.regex) throw resourceError(ref, `${field}.safe_regex.regex`, 'the regex must not be empty');
      return { regex: m.safe_regex.regex };
    case undefined:
      throw resourceError(ref, field, 'a string matcher needs one of exact, prefix, suffix, contains, safe_regex');
    default:
      throw resourceError(ref, field, `unsupported string matcher ${m.match_pattern}`);
  }
}
