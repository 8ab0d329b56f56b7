// `outrigger explain` on the command line (-c, text and JSON, usage and config errors) and against a
// running proxy's admin API (--admin, /explain): the same answer for the same config.
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFORMANCE } from '../config/security-helpers.js';
import { bookinfoServices, KubernetesMesh } from '../helpers/kubernetes-mesh.js';
import { runCli, startProxy, stopAllProxies, writeConfigDir, type RunningProxy } from '../helpers/proxy.js';

const NETWORKING = `${CONFORMANCE}samples/bookinfo/networking/`;
const mesh = new KubernetesMesh(bookinfoServices(), 9080);
const files = {
  'kubernetes.yaml': mesh.yaml(),
  'destination-rule-all.yaml': readFileSync(`${NETWORKING}destination-rule-all.yaml`, 'utf8'),
  'virtual-service-reviews-jason-v2-v3.yaml': readFileSync(`${NETWORKING}virtual-service-reviews-jason-v2-v3.yaml`, 'utf8'),
};
const identity = ['--ip', mesh.pod('productpage-v1').ip, '--label', 'app=productpage', '--label', 'version=v1'];
const V2 = 'outbound|9080|v2|reviews.default.svc.cluster.local';

let dir: string;
let proxy: RunningProxy;

beforeAll(async () => {
  dir = await writeConfigDir({ files });
  proxy = await startProxy({ files, args: identity });
});

afterAll(async () => {
  await stopAllProxies();
  await rm(dir, { recursive: true, force: true });
});

describe('outrigger explain -c', () => {
  it('text: the route, its VirtualService rule, the cluster, its endpoint and the outcome', async () => {
    const r = await runCli(['explain', '-c', dir, ...identity, '--request', 'GET http://reviews:9080/reviews/0', '-H', 'end-user: jason']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Listener +virtualOutbound$/m);
    expect(r.stdout).toMatch(/^Route +#0 "reviews\.0" from VirtualService default\/reviews$/m);
    expect(r.stdout).toContain(`Cluster       ${V2}: STATIC, LEAST_REQUEST`);
    expect(r.stdout).toContain(`${mesh.pod('reviews-v2').ip}:9080  HEALTHY  eligible  <- picked`);
    expect(r.stdout).toMatch(new RegExp(`^Outcome +proxied to ${V2.replace(/\|/g, '\\|')}, host ${mesh.pod('reviews-v2').ip}:9080$`, 'm'));
  });

  it('-o json: the Explanation', async () => {
    const r = await runCli(['explain', '-c', dir, ...identity, '--request', 'http://reviews:9080/', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.request).toMatchObject({ method: 'GET', direction: 'outbound', host: 'reviews', port: 9080 });
    expect(e.outcomes).toEqual([expect.objectContaining({ share: 100, cluster: 'outbound|9080|v3|reviews.default.svc.cluster.local' })]);
  });

  it('a request it cannot read: exit 2 with the reason', async () => {
    const noRequest = await runCli(['explain', '-c', dir]);
    expect(noRequest.code).toBe(2);
    expect(noRequest.stderr).toContain("explain needs --request '<METHOD> <URL>'");
    const badUrl = await runCli(['explain', '-c', dir, '--request', 'GET /reviews']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('"/reviews" is not an absolute URL');
    const badFlag = await runCli(['run', '-c', dir, '--request', 'GET http://x/']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('--request is only a flag of "outrigger explain"');
  });

  it('a config that does not load: exit 1 with the error, as validate', async () => {
    const bad = await writeConfigDir({ yaml: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: [a], bogus: 1}\n' });
    const r = await runCli(['explain', '-c', bad, '--request', 'GET http://a/']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*bogus/m);
    await rm(bad, { recursive: true, force: true });
  });
});

describe('explain against a running proxy', () => {
  it('outrigger explain --admin: the config the proxy serves, the same answer as -c', async () => {
    const admin = `http://127.0.0.1:${proxy.ports.admin}`;
    const args = ['--request', 'GET http://reviews:9080/reviews/0', '-H', 'end-user: jason', '-o', 'json'];
    const remote = await runCli(['explain', '--admin', admin, ...args]);
    const local = await runCli(['explain', '-c', dir, ...identity, ...args]);
    expect(remote.code, remote.stderr).toBe(0);
    const [r, l] = [JSON.parse(remote.stdout), JSON.parse(local.stdout)];
    expect(r.outcomes).toEqual(l.outcomes);
    expect(r.http.route).toEqual(l.http.route);
    expect(r.connection).toEqual(l.connection);
  });

  it('/explain: text by default, 400 with the usage or the reason', async () => {
    const admin = `http://127.0.0.1:${proxy.ports.admin}`;
    const text = await fetch(`${admin}/explain?request=${encodeURIComponent('GET http://ratings:9080/ratings/0')}`);
    expect(text.status).toBe(200);
    expect(await text.text()).toMatch(/^Outcome +proxied to outbound\|9080\|\|ratings\.default\.svc\.cluster\.local/m);
    const usage = await fetch(`${admin}/explain`);
    expect(usage.status).toBe(400);
    expect(await usage.text()).toMatch(/^usage: \/explain\?request=/);
    const bad = await fetch(`${admin}/explain?request=${encodeURIComponent('GET http://reviews/')}&direction=sideways`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('--direction must be outbound, inbound or gateway, got "sideways"');
  });
});
