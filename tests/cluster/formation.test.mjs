// Cluster formation: real daemons on loopback, bootstrap peers, one master.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, startCluster, startAll, freePortPairs, uniqueNamespace, waitForAgreement, stopAll, diag, state, endpoint, waitFor } from './cluster_helpers.mjs';

test('3 daemons started at the same instant elect one master within seconds', async () => {
  const started = Date.now();
  const ds = await startCluster({ n: 3, ns: uniqueNamespace('three') });
  try {
    const master = await waitForAgreement(ds, { timeoutMs: 15000 });
    const elapsed = Date.now() - started;
    assert.ok(ds.some((d) => d.nodeId === master), 'the master is one of the three');
    // Every node's state names all three members and the same event index.
    const ss = await Promise.all(ds.map(state));
    for (const s of ss) assert.deepEqual(Object.keys(s.nodes).sort(), ds.map((d) => d.nodeId).sort());
    await waitFor(async () => new Set((await Promise.all(ds.map(state))).map((s) => s.lastEventAppliedIdx)).size === 1,
      { what: 'equal lastEventAppliedIdx on all nodes' });
    console.log(`3-node formation: agreed in ${elapsed} ms`);
  } finally {
    await stopAll(ds);
  }
});

test('5 daemons dialling only a seed close the mesh and agree on one master', async () => {
  const ns = uniqueNamespace('five');
  const seed = await startDaemon({ env: { SKULK_NAMESPACE: ns } });
  let rest = [];
  try {
    const started = Date.now();
    rest = await startCluster({ n: 4, ns, bootstrap: [endpoint(seed.clusterPort)] });
    const all = [seed, ...rest];
    await waitForAgreement(all, { timeoutMs: 20000 });
    console.log(`5-node formation: agreed in ${Date.now() - started} ms`);
    // The mesh closes transitively (heartbeats carry peer lists): every
    // node comes to hear the four others.
    await waitFor(async () => (await Promise.all(all.map(diag))).every((x) => x.peers.filter((p) => p.alive).length === 4),
      { timeoutMs: 10000, what: 'every node to hear 4 peers' });
    console.log(`5-node mesh closed after ${Date.now() - started} ms`);
  } finally {
    await stopAll([seed, ...rest]);
  }
});

// A node that hears no peer within the election's settle time wins alone,
// and its coordinator reaches nobody. Here the first node is frozen while the
// second starts, so both end up masters of term 1; once they hear each other
// one of them must take a newer term and the other follow it.
test('two nodes that each became master alone agree on one once they meet', async () => {
  const ns = uniqueNamespace('split');
  const a = await startDaemon({ env: { SKULK_NAMESPACE: ns } });
  let b;
  try {
    await waitFor(async () => (await diag(a)).isMaster, { what: 'the first node to be master alone' });
    process.kill(a.pid, 'SIGSTOP');
    try {
      b = await startDaemon({ args: ['--bootstrap-peers', endpoint(a.clusterPort)], env: { SKULK_NAMESPACE: ns } });
      await waitFor(async () => (await diag(b)).isMaster, { what: 'the second node to be master alone' });
    } finally {
      process.kill(a.pid, 'SIGCONT');
    }
    const master = await waitForAgreement([a, b], { timeoutMs: 15000 });
    const d = await diag(a);
    assert.equal(d.masterNodeId, master);
    assert.ok(d.term >= 2, `the two masters of term 1 settle it with a newer term (term ${d.term})`);
  } finally {
    await stopAll([a, b]);
  }
});

test('an instance placed through any node appears in every /state; /events lists it', async () => {
  const ds = await startCluster({ n: 3, ns: uniqueNamespace('place') });
  try {
    const master = await waitForAgreement(ds);
    const follower = ds.find((d) => d.nodeId !== master);
    const r = await follower.post('/place_instance', { model_id: 'test-model' });
    assert.equal(r.status, 200, r.text);
    const id = r.json.instance_id;
    assert.ok(id);
    await waitFor(async () => (await Promise.all(ds.map(state))).every((s) => s.instances[id]?.modelId === 'test-model'),
      { what: 'the instance on every node' });
    const ev = await ds[0].get('/events?since=-1');
    assert.equal(ev.status, 200);
    const created = ev.json.events.filter((e) => e.type === 'InstanceCreated');
    assert.equal(created.length, 1);
    assert.equal(created[0].event.instance.instanceId, id);
    assert.equal(ev.json.events[0].type, 'SessionStarted');
    const idxs = ev.json.events.map((e) => e.idx);
    assert.deepEqual(idxs, idxs.map((_, i) => i), 'dense indices from 0');
    const since = await ds[0].get(`/events?since=${created[0].idx}`);
    assert.ok(since.json.events.every((e) => e.idx > created[0].idx));
    // Bad input answers 400 with a reason.
    assert.equal((await ds[0].get('/events?since=abc')).status, 400);
    const bad = await ds[1].post('/place_instance', { model_id: 7 });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /model_id/);
    const badNode = await ds[1].post('/place_instance', { model_id: 'm', node_ids: ['no-such-node'] });
    assert.equal(badNode.status, 400);
    assert.match(badNode.json.error.message, /no-such-node/);
  } finally {
    await stopAll(ds);
  }
});

test('--force-master wins the election whatever the other keys are', async () => {
  const ns = uniqueNamespace('forced');
  const ports = await freePortPairs(3);
  const ds = await startAll(ports.map((p, i) => () => startDaemon({
    env: { SKULK_NAMESPACE: ns },
    args: ['--cluster-port', String(p), '--bootstrap-peers', ports.filter((_, j) => j !== i).map(endpoint).join(','),
      ...(i === 1 ? ['--force-master'] : [])],
  })));
  try {
    const master = await waitForAgreement(ds);
    assert.equal(master, ds[1].nodeId);
  } finally {
    await stopAll(ds);
  }
});

test('followers that lose published events recover them with gap requests', async () => {
  // Every 3rd event a follower receives is dropped on arrival (test hook).
  const ds = await startCluster({ n: 3, ns: uniqueNamespace('gaps'), env: { SKULK_TEST_DROP_EVERY_NTH_EVENT: '3' } });
  try {
    const master = await waitForAgreement(ds);
    const m = ds.find((d) => d.nodeId === master);
    const ids = [];
    for (let i = 0; i < 12; ++i) {
      const r = await m.post('/place_instance', { model_id: `gap-${i}` });
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.instance_id);
    }
    await waitFor(async () => {
      const ss = await Promise.all(ds.map(state));
      return ss.every((s) => ids.every((id) => s.instances[id]) && s.lastEventAppliedIdx === ss[0].lastEventAppliedIdx);
    }, { timeoutMs: 15000, what: 'every follower to hold all 12 instances at the master\'s index' });
    const ss = await Promise.all(ds.map(state));
    for (const s of ss) assert.deepEqual(Object.keys(s.instances).sort(), Object.keys(ss[0].instances).sort());
    for (const d of ds.filter((x) => x !== m)) assert.match(d.stderr, /gap filled: applied events/, 'the follower used gap requests');
  } finally {
    await stopAll(ds);
  }
});
