// A stranger on the network (its own network namespace, a raw ZeroMQ client:
// bin/cluster_probe) against the cluster ports. With a cluster secret it can
// neither read nor change anything, even knowing the cluster's public key;
// without one the traffic is still encrypted, so a plain client reads
// nothing either. Needs root (ip netns); skips cleanly otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildDir } from '../harness/daemon.mjs';
import { startDaemon, startCluster, uniqueNamespace, waitForAgreement, stopAll, state, waitFor } from './cluster_helpers.mjs';
import { netnsUnavailable, strangerNamespace, inNamespace } from './netns_helpers.mjs';

// SKULK_CLUSTER_PROBE lets the same probe run against another build (to
// show these tests fail on a build without the fix).
const probe = process.env.SKULK_CLUSTER_PROBE || join(buildDir, 'bin', 'cluster_probe');
const skip = netnsUnavailable() || (existsSync(probe) ? false : `no ${probe}`);

let net;
before(() => { if (!skip) net = strangerNamespace(); });
after(() => net?.remove());

const stranger = async (...args) => JSON.parse(await inNamespace(net.ns, probe, args));
const local = async (...args) => (await inNamespace(net.ns, probe, args)).trim();
const pubEp = (d) => `tcp://${net.hostIp}:${d.clusterPort}`;
const routerEp = (d) => `tcp://${net.hostIp}:${d.clusterPort + 1}`;

async function eventTypes(d) {
  return (await d.get('/events?since=-1')).json.events.map((e) => e.type);
}

test('with a secret, a stranger (even one knowing the public key) reads nothing and deletes nothing', { skip }, async () => {
  const ns = uniqueNamespace('stranger');
  const secret = 'correct horse battery staple';
  const ds = await startCluster({ n: 2, ns, env: { SKULK_CLUSTER_SECRET: secret } });
  try {
    await waitForAgreement(ds);
    const placed = await ds[0].post('/place_instance', { model_id: 'guarded-model' });
    assert.equal(placed.status, 200, placed.text);
    const id = placed.json.instance_id;
    await waitFor(async () => (await Promise.all(ds.map(state))).every((s) => s.instances[id]), { what: 'the instance everywhere' });
    const eventsBefore = await eventTypes(ds[0]);
    // Public keys are not secrets: assume the stranger has the server's.
    const serverKey = await local('key', secret);
    for (const d of ds) {
      for (const key of [[], [serverKey]]) {
        const heard = await stranger('subscribe', pubEp(d), '1500', ...key);
        assert.equal(heard.messages, 0, `the stranger read nothing from ${d.nodeId} (${key.length ? 'CURVE' : 'plain'})`);
        const del = await stranger('delete', routerEp(d), ns, id, '1500', ...key);
        assert.equal(del.replied, false, `no answer to the stranger's DeleteInstance (${key.length ? 'CURVE' : 'plain'})`);
      }
    }
    for (const d of ds) {
      const s = await state(d);
      assert.ok(s.instances[id], 'the instance is still there');
      assert.equal(s.security.clusterSecret, true);
      assert.equal(s.security.warning, undefined);
    }
    assert.deepEqual(await eventTypes(ds[0]), eventsBefore, 'no event came of it');
    assert.ok((await Promise.all(ds.map(state))).some((s) => s.security.refusedConnections > 0),
      'the CURVE stranger was refused by the ZAP handler');
  } finally {
    await stopAll(ds);
  }
});

test('without a secret the traffic is still encrypted: a plain client reads nothing and deletes nothing; a loud warning', { skip }, async () => {
  const ns = uniqueNamespace('open');
  const d = await startDaemon({ env: { SKULK_NAMESPACE: ns } });
  try {
    await waitFor(async () => (await state(d)).masterNodeId, { what: 'the node to lead itself' });
    const placed = await d.post('/place_instance', { model_id: 'open-model' });
    assert.equal(placed.status, 200, placed.text);
    const id = placed.json.instance_id;
    const heard = await stranger('subscribe', pubEp(d), '1500');
    assert.equal(heard.messages, 0, 'a plaintext subscriber reads nothing');
    const del = await stranger('delete', routerEp(d), ns, id, '1500');
    assert.equal(del.replied, false);
    const s = await state(d);
    assert.ok(s.instances[id]);
    assert.equal(s.security.clusterSecret, false);
    assert.match(s.security.warning, /no cluster secret/);
    assert.match(d.stderr, /SECURITY: no cluster secret/);
    // The control: the port is reachable from the stranger's namespace, and
    // with the namespace's public key anyone is admitted (no secret, no proof).
    const openKey = await local('open-key', ns);
    const admitted = await stranger('subscribe', pubEp(d), '1500', openKey);
    assert.ok(admitted.messages > 0, 'without a secret a CURVE client with the open key is admitted (as documented)');
  } finally {
    await d.stop();
  }
});
