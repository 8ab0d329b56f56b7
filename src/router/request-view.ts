import { getJoinedFromList } from './headers.js';

/** What route matching reads from a request; built once per request, query parsed only on demand. */
export class RequestView {
  private query?: URLSearchParams;
  private pathOnly?: string;

  constructor(
    readonly method: string,
    /** The :path, query included. */
    readonly path: string,
    /** The :authority, lower-cased. */
    readonly authority: string,
    readonly scheme: string,
    /** Flat [name, value, ...] request headers with lower-case names. */
    private readonly headers: readonly string[],
  ) {}

  /** The path without its query string. */
  get pathWithoutQuery(): string {
    if (this.pathOnly === undefined) {
      const q = this.path.indexOf('?');
      this.pathOnly = q < 0 ? this.path : this.path.slice(0, q);
    }
    return this.pathOnly;
  }

  /** A header's value; repeated headers are joined with "," as Envoy does for matching. */
  header(name: string): string | undefined {
    switch (name) {
      case ':authority':
        return this.authority;
      case ':method':
        return this.method;
      case ':scheme':
        return this.scheme;
      case ':path':
        return this.path;
    }
    return getJoinedFromList(this.headers, name);
  }

  queryParam(name: string): string | undefined {
    if (!this.query) {
      const q = this.path.indexOf('?');
      this.query = new URLSearchParams(q < 0 ? '' : this.path.slice(q + 1));
    }
    return this.query.get(name) ?? undefined;
  }
}

