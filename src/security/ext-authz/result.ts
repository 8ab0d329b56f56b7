/**
 * What an authorization service answered, whichever API asked it (Envoy's
 * Filters::Common::ExtAuthz::Response): the filters apply failOpen / statusOnError to `error`.
 */
export type ExtAuthzResult =
  | {
      kind: 'ok';
      /** Request headers to set (replacing any value) and to append, then to remove, before the upstream sees them. */
      setHeaders: [string, string][];
      appendHeaders: [string, string][];
      removeHeaders: string[];
      /** Headers for the downstream response (gRPC ok_response.response_headers_to_add). */
      responseHeaders: [string, string][];
    }
  | {
      kind: 'denied';
      status: number;
      body: string;
      /** For the local reply, flat [name, value, ...]. */
      headers: string[];
    }
  | { kind: 'error'; message: string };
