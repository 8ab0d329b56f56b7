/**
 * Upstream keep-alive idle timeout when the config sets none. Envoy's default is 1h, but Node
 * servers close idle connections after 5 s; reusing one they just closed fails the request (UC), so
 * Outrigger closes first. Both front ends (Istio YAML, xDS) use it.
 */
export const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS = 4_000;
