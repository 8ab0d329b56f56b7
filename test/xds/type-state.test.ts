import { describe, expect, it } from 'vitest';
import { DeltaTypeState } from '../../src/xds/delta-state.js';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from '../../src/xds/messages.js';
import { resourceName } from '../../src/xds/resource-name.js';
import { TYPE_URLS } from '../../src/xds/resource-types.js';
import { SotwTypeState } from '../../src/xds/sotw-state.js';
import { XdsProtocolError } from '../../src/xds/update.js';
import { anyOf } from '../helpers/xds-server.js';

const { listener: LDS, cluster: CDS, endpoint: EDS } = TYPE_URLS;
const cla = (name: string, ip = '10.0.0.1') => anyOf(EDS, { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ip, port_value: 80 } } } }] }] });
const cds = (name: string, extra: object = {}) => anyOf(CDS, { name, type: 'EDS', ...extra });

describe('resourceName: the name of an encoded resource, without decoding it', () => {
  it('reads name (Listener, Cluster) and cluster_name (ClusterLoadAssignment)', () => {
    expect(resourceName(anyOf(LDS, { name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } } }))).toBe('virtualInbound');
    expect(resourceName(cds('outbound|80||a'))).toBe('outbound|80||a');
    expect(resourceName(cla('outbound|80||a'))).toBe('outbound|80||a');
  });
  it('an unknown type is an error', () => {
    expect(() => resourceName({ type_url: 'type.googleapis.com/istio.Nope', value: Buffer.alloc(0) })).toThrow(/no name field/);
  });
});

describe('SotwTypeState (state of the world)', () => {
  const response = (type_url: string, version: string, nonce: string, ...resources: ReturnType<typeof cla>[]): DiscoveryResponse => ({ type_url, version_info: version, nonce, resources });

  it('a wildcard type asks with no names; ACK = the response version and nonce; NACK = the previous version', () => {
    const s = new SotwTypeState(CDS);
    expect(s.pendingRequest()).toEqual({ type_url: CDS, resource_names: [] });
    expect(s.pendingRequest()).toBeUndefined();
    const r1 = response(CDS, 'v1', 'n1', cds('a'), cds('b'));
    const u1 = s.prepare(r1)!;
    expect(u1.updated.map((r) => r.name)).toEqual(['a', 'b']);
    expect(s.accept(r1, u1)).toEqual({ type_url: CDS, resource_names: [], version_info: 'v1', response_nonce: 'n1' });
    const r2 = response(CDS, 'v2', 'n2', cds('a'));
    s.prepare(r2);
    expect(s.reject(r2, 'bad')).toEqual({ type_url: CDS, resource_names: [], version_info: 'v1', response_nonce: 'n2', error_detail: { code: 13, message: 'bad' } });
  });

  it('Listener/Cluster: a held resource absent from a response is removed; unchanged bytes are not "updated"', () => {
    const s = new SotwTypeState(CDS);
    s.pendingRequest();
    const r1 = response(CDS, 'v1', 'n1', cds('a'), cds('b'));
    s.accept(r1, s.prepare(r1));
    const u2 = s.prepare(response(CDS, 'v2', 'n2', cds('a'), cds('c')))!;
    expect(u2.updated.map((r) => r.name)).toEqual(['c']);
    expect(u2.removed).toEqual(['b']);
    expect(u2.all!.map((r) => r.name)).toEqual(['a', 'c']);
    const u3 = s.prepare(response(CDS, 'v2', 'n2', cds('a', { lb_policy: 'RANDOM' }), cds('b')))!;
    expect(u3.updated.map((r) => r.name)).toEqual(['a']);
    expect(u3.removed).toEqual([]);
  });

  it('a named type: absence removes nothing, unwanted resources are dropped, a response with none wanted needs no handler', () => {
    const s = new SotwTypeState(EDS);
    expect(s.pendingRequest()).toBeUndefined(); // no names yet: nothing to ask
    s.setNames(['a', 'b']);
    expect(s.pendingRequest()).toEqual({ type_url: EDS, resource_names: ['a', 'b'] });
    const r1 = response(EDS, 'v1', 'n1', cla('a'), cla('z'));
    const u1 = s.prepare(r1)!;
    expect(u1.updated.map((r) => r.name)).toEqual(['a']);
    expect(u1.removed).toEqual([]);
    s.accept(r1, u1);
    expect(s.prepare(response(EDS, 'v2', 'n2', cla('z')))).toBeUndefined();
  });

  it('a subscription change repeats the full list with the last good version and the last nonce (even after a NACK)', () => {
    const s = new SotwTypeState(EDS);
    s.setNames(['a']);
    s.pendingRequest();
    const r1 = response(EDS, 'v1', 'n1', cla('a'));
    s.accept(r1, s.prepare(r1));
    const r2 = response(EDS, 'v2', 'n2', cla('a', '10.9.9.9'));
    s.reject(r2, 'no');
    expect(s.setNames(['a', 'b'])).toBe(true);
    expect(s.setNames(['b', 'a'])).toBe(false);
    expect(s.pendingRequest()).toEqual({ type_url: EDS, resource_names: ['a', 'b'], version_info: 'v1', response_nonce: 'n2' });
    // unsubscribing from every name is said with an empty list
    s.setNames([]);
    expect(s.pendingRequest()).toEqual({ type_url: EDS, resource_names: [], version_info: 'v1', response_nonce: 'n2' });
  });

  it('a fresh stream restates names and the last good version, with no nonce', () => {
    const s = new SotwTypeState(EDS);
    s.setNames(['a']);
    s.pendingRequest();
    const r1 = response(EDS, 'v1', 'n1', cla('a'));
    s.accept(r1, s.prepare(r1));
    s.markStreamFresh();
    expect(s.pendingRequest()).toEqual({ type_url: EDS, resource_names: ['a'], version_info: 'v1' });
  });

  it('a name unsubscribed while its update is in the handler is not held afterwards', () => {
    const s = new SotwTypeState(EDS);
    s.setNames(['a', 'b']);
    s.pendingRequest();
    const r1 = response(EDS, 'v1', 'n1', cla('a'), cla('b'));
    const u1 = s.prepare(r1)!;
    s.setNames(['b']);
    s.accept(r1, u1);
    s.setNames(['a', 'b']);
    expect(s.prepare(response(EDS, 'v2', 'n2', cla('a'), cla('b')))!.updated.map((r) => r.name)).toEqual(['a']);
  });

  it('protocol errors: an Any of another type, a duplicate name', () => {
    const s = new SotwTypeState(CDS);
    expect(() => s.prepare(response(CDS, 'v1', 'n1', cla('a')))).toThrow(XdsProtocolError);
    expect(() => s.prepare(response(CDS, 'v1', 'n1', cds('a'), cds('a')))).toThrow(/duplicate resource name "a"/);
  });
});

describe('DeltaTypeState (incremental)', () => {
  const res = (name: string, version: string, any = cds(name)) => ({ name, version, resource: any });
  const response = (over: Partial<DeltaDiscoveryResponse> & { nonce: string }): DeltaDiscoveryResponse => ({ type_url: CDS, system_version_info: 's1', ...over });

  it('a wildcard type: the first request subscribes to no name (legacy wildcard); the ACK is the nonce alone', () => {
    const s = new DeltaTypeState(CDS);
    expect(s.pendingRequest()).toEqual({ type_url: CDS });
    const r = response({ nonce: 'n1', resources: [res('a', '1'), res('b', '1')] });
    const u = s.prepare(r)!;
    expect(u.updated.map((x) => x.name)).toEqual(['a', 'b']);
    expect(s.accept(r, u)).toEqual({ type_url: CDS, response_nonce: 'n1' });
    expect(s.reject(r, 'bad')).toEqual({ type_url: CDS, response_nonce: 'n1', error_detail: { code: 13, message: 'bad' } });
  });

  it('on a fresh stream, initial_resource_versions lists what is held (after removals)', () => {
    const s = new DeltaTypeState(CDS);
    s.pendingRequest();
    const r1 = response({ nonce: 'n1', resources: [res('a', '1'), res('b', '2')] });
    s.accept(r1, s.prepare(r1));
    const r2 = response({ nonce: 'n2', removed_resources: ['b', 'never-held'] });
    const u2 = s.prepare(r2)!;
    expect(u2.removed).toEqual(['b']);
    s.accept(r2, u2);
    s.markStreamFresh();
    expect(s.pendingRequest()).toEqual({ type_url: CDS, initial_resource_versions: { a: '1' } });
  });

  it('a named type sends subscribe/unsubscribe diffs, never on an ACK; dropped names are forgotten', () => {
    const s = new DeltaTypeState(EDS);
    expect(s.pendingRequest()).toBeUndefined();
    s.setNames(['a', 'b']);
    expect(s.pendingRequest()).toEqual({ type_url: EDS, resource_names_subscribe: ['a', 'b'] });
    const r1 = { type_url: EDS, nonce: 'n1', resources: [res('a', '1', cla('a')), res('b', '1', cla('b')), res('z', '1', cla('z'))] };
    const u1 = s.prepare(r1)!;
    expect(u1.updated.map((x) => x.name)).toEqual(['a', 'b']); // z was not asked for
    s.setNames(['b', 'c']); // while the response is in the handler
    expect(s.accept(r1, u1)).toEqual({ type_url: EDS, response_nonce: 'n1' });
    expect(s.pendingRequest()).toEqual({ type_url: EDS, resource_names_subscribe: ['c'], resource_names_unsubscribe: ['a'] });
    expect(s.pendingRequest()).toBeUndefined();
    s.markStreamFresh();
    expect(s.pendingRequest()).toEqual({ type_url: EDS, resource_names_subscribe: ['b', 'c'], initial_resource_versions: { b: '1' } });
  });

  it('an empty response reaches a wildcard subscription but not a named one (Envoy WatchMap)', () => {
    const w = new DeltaTypeState(CDS);
    expect(w.prepare(response({ nonce: 'n1' }))).toMatchObject({ updated: [], removed: [] });
    const named = new DeltaTypeState(EDS);
    named.setNames(['a']);
    expect(named.prepare({ type_url: EDS, nonce: 'n1' })).toBeUndefined();
  });

  it('a subscribe then unsubscribe before sending cancel out into an unsubscribe', () => {
    const s = new DeltaTypeState(EDS);
    s.setNames(['a']);
    s.pendingRequest();
    s.setNames(['a', 'b']);
    s.setNames(['a']);
    expect(s.pendingRequest()).toEqual({ type_url: EDS, resource_names_unsubscribe: ['b'] });
  });

  it('a heartbeat (no resource, the version held) is skipped; a bare resource at a new version is an error', () => {
    const s = new DeltaTypeState(CDS);
    s.pendingRequest();
    const r1 = response({ nonce: 'n1', resources: [res('a', '1')] });
    s.accept(r1, s.prepare(r1));
    expect(s.prepare(response({ nonce: 'n2', resources: [{ name: 'a', version: '1' }] }))!.updated).toEqual([]);
    expect(() => s.prepare(response({ nonce: 'n3', resources: [{ name: 'a', version: '2' }] }))).toThrow(/type URL  embedded/);
  });

  it('protocol errors: another type in the Any, duplicate names, a name both added and removed', () => {
    const s = new DeltaTypeState(CDS);
    expect(() => s.prepare(response({ nonce: 'n', resources: [res('a', '1', cla('a'))] }))).toThrow(`type URL ${EDS} embedded in an individual Any does not match the message-wide type URL ${CDS}`);
    expect(() => s.prepare(response({ nonce: 'n', resources: [res('a', '1'), res('a', '2')] }))).toThrow('duplicate name a found among added/updated resources');
    expect(() => s.prepare(response({ nonce: 'n', resources: [res('a', '1')], removed_resources: ['a'] }))).toThrow('duplicate name a found in the union of added+removed resources');
  });
});
