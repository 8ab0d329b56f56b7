import { getFromList, removeFromList, setInList } from '../router/headers.js';
import type { RequestHeaders, ResponseHeaders } from './filter.js';

/** get/set/add/remove over a flat [name, value, ...] list with lower-case names. */
export class HeaderListMap {
  constructor(
    /** The list itself, edited in place. */
    readonly list: string[],
  ) {}

  get(name: string): string | undefined {
    return getFromList(this.list, name.toLowerCase());
  }

  set(name: string, value: string): void {
    setInList(this.list, name.toLowerCase(), value);
  }

  add(name: string, value: string): void {
    this.list.push(name.toLowerCase(), value);
  }

  remove(name: string): void {
    removeFromList(this.list, name.toLowerCase());
  }
}

/**
 * The request as it will go upstream: method, :path, :authority and the header list the
 * connection manager prepared. Filters edit it; the router completes it and sends it.
 */
export class RequestHeaderMap extends HeaderListMap implements RequestHeaders {
  constructor(
    readonly method: string,
    public path: string,
    /** The :authority, lower case; the upstream's host header may differ (rewrites). */
    public authority: string,
    list: string[],
  ) {
    super(list);
  }

  setPath(path: string): void {
    this.path = path;
  }
}

/** Response headers as the downstream will see them, for the filters' onResponseHeaders. */
export class ResponseHeaderMap extends HeaderListMap implements ResponseHeaders {
  constructor(
    readonly status: number,
    list: string[],
  ) {
    super(list);
  }
}
