import { regexError } from '../../../common/regex.js';
import type { HeaderMatcher, StringMatch } from '../../snapshot.js';
import { fieldPath, resourceError, type ResourceRef } from './context.js';

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
 * min_len 1) or a matcher with no pattern is an error naming `field`; so is a regex RE2 refuses.
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
      return { regex: decodeRegex(m.safe_regex?.regex, ref, `${field}.safe_regex.regex`) };
    case undefined:
      throw resourceError(ref, field, 'a string matcher needs one of exact, prefix, suffix, contains, safe_regex');
    default:
      throw resourceError(ref, field, `unsupported string matcher ${m.match_pattern}`);
  }
}

/**
 * A RegexMatcher's pattern, checked as Envoy checks it when the resource arrives: not empty, and
 * valid RE2 (the data plane compiles it again; a pattern it cannot compile must be a NACK naming the
 * field, not a Snapshot the workers refuse).
 */
export function decodeRegex(regex: string | undefined, ref: ResourceRef, field: string): string {
  if (!regex) throw resourceError(ref, field, 'the regex must not be empty');
  const error = regexError(regex);
  if (error) throw resourceError(ref, field, `invalid regex ${JSON.stringify(regex)}: ${error}`);
  return regex;
}

type Msg = Record<string, any>;

/** route.v3.HeaderMatcher as the router (and an access log's header filter) matches it: every form istiod emits, the deprecated ones too. */
export function decodeHeaderMatcher(h: Msg, ref: ResourceRef, field: string): HeaderMatcher {
  const at = (k: string) => fieldPath(field, k);
  if (!h.name) throw resourceError(ref, at('name'), 'a header matcher needs a name');
  if (h.treat_missing_header_as_empty) throw resourceError(ref, at('treat_missing_header_as_empty'), 'treat_missing_header_as_empty is not supported');
  const name = (h.name as string).toLowerCase();
  const invert = h.invert_match === true;
  const nonEmpty = (k: string): string => {
    if (!h[k]) throw resourceError(ref, at(k), 'must not be empty');
    return h[k];
  };
  switch (h.header_match_specifier) {
    case 'string_match':
      return { name, match: decodeStringMatcher(h.string_match, ref, at('string_match')), invert };
    // present_match: false matches a header that is absent
    case 'present_match':
      return { name, invert: h.present_match === true ? invert : !invert };
    case undefined:
      return { name, invert };
    case 'exact_match':
      return { name, match: { exact: h.exact_match ?? '' }, invert };
    case 'prefix_match':
      return { name, match: { prefix: nonEmpty('prefix_match') }, invert };
    case 'suffix_match':
      return { name, match: { suffix: nonEmpty('suffix_match') }, invert };
    case 'contains_match':
      return { name, match: { contains: nonEmpty('contains_match') }, invert };
    case 'safe_regex_match':
      return { name, match: { regex: decodeRegex(h.safe_regex_match?.regex, ref, at('safe_regex_match.regex')) }, invert };
    default:
      throw resourceError(ref, at(h.header_match_specifier), `header matcher ${h.header_match_specifier} is not supported`);
  }
}
