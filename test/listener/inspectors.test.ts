// Envoy's tls_inspector / http_inspector with filter_disabled port ranges, as a listener's
// `inspectors` say (istiod's virtualInbound: TLS not inspected on 15006, HTTP not on 15006 nor on
// ports it knows to be HTTP).
import { describe, expect, it } from 'vitest';
import { compileInspectors, reportedBy, UNINSPECTED } from '../../src/listener/inspectors.js';

const tlsHello = { transportProtocol: 'tls', serverName: 'a.example', applicationProtocols: ['istio-h2'] } as const;
const http1 = { transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1'] } as const;
const tcp = { transportProtocol: 'raw_buffer', applicationProtocols: [] } as const;

describe('listener inspectors', () => {
  const virtualInbound = compileInspectors({
    tls: { disabledPorts: [{ start: 15006, end: 15007 }] },
    http: { disabledPorts: [{ start: 80, end: 81 }, { start: 15006, end: 15007 }] },
  });

  it('are on except on their disabled ports (end exclusive)', () => {
    expect(virtualInbound(8080)).toEqual({ tls: true, http: true });
    expect(virtualInbound(80)).toEqual({ tls: true, http: false });
    expect(virtualInbound(81)).toEqual({ tls: true, http: true });
    expect(virtualInbound(15006)).toEqual({ tls: false, http: false });
  });

  it('absent config: both everywhere (the Istio front end); an empty one: none', () => {
    expect(compileInspectors(undefined)(1)).toEqual({ tls: true, http: true });
    expect(compileInspectors({})(1)).toEqual({ tls: false, http: false });
  });

  it('report only what the enabled inspectors would have seen', () => {
    expect(reportedBy({ tls: true, http: false }, tlsHello)).toBe(tlsHello);
    expect(reportedBy({ tls: false, http: true }, tlsHello)).toBe(UNINSPECTED); // no SNI, no ALPN, raw_buffer
    expect(reportedBy({ tls: true, http: false }, http1)).toBe(UNINSPECTED);
    expect(reportedBy({ tls: false, http: true }, http1)).toBe(http1);
    expect(reportedBy({ tls: true, http: false }, tcp)).toBe(tcp);
  });
});
