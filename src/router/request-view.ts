import type { IncomingHttpHeaders } from 'node:http';

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
    private readonly headerSource: { headers: IncomingHttpHeaders },
  ) {}

  /** The path without its query string. */
  get pathWithoutQuery(): string {
    if (this.pathOnly === undefined) {
      const q = this.path.indexOf('?');
      this.pathOnly = q < 0 ? this.path : this.path.slice(0, q);
    }
    return this.pathOnly;
  }

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
    const v = this.headerSource.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  }

  queryParam(name: string): string | undefined {
    if (!this.query) {
      const q = this.path.indexOf('?');
      this.query = new URLSearchParams(q < 0 ? '' : this.path.slice(q + 1));
    }
    return this.query.get(name) ?? undefined;
  }
}
