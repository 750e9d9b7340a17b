// Master failover: kill -9 the master; a new one within 5 s keeps the
// instances; the killed node, restarted, rejoins by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, startCluster, uniqueNamespace, waitForAgreement, stopAll, diag, state, endpoint, waitFor } from './cluster_helpers.mjs';

test('kill -9 the master: new master within 5 s, instances carried over, old node rejoins', async () => {
  const ns = uniqueNamespace('failover');
  const ds = await startCluster({ n: 3, ns });
  let restarted;
  try {
    const master = await waitForAgreement(ds);
    const old = ds.find((d) => d.nodeId === master);
    const survivors = ds.filter((d) => d !== old);
    // On a survivor: the killed node's own instances go when it restarts
    // (identity.test.mjs), so this one must outlive that.
    const placed = await survivors[0].post('/place_instance', { model_id: 'carried-model', node_ids: [survivors[0].nodeId] });
    assert.equal(placed.status, 200, placed.text);
    const id = placed.json.instance_id;
    await waitFor(async () => (await Promise.all(ds.map(state))).every((s) => s.instances[id]), { what: 'instance everywhere' });

    const killedAt = Date.now();
    await old.kill9();
    let newMaster;
    await waitFor(async () => {
      const xs = await Promise.all(survivors.map(diag));
      const m = xs[0].masterNodeId;
      if (!m || m === master || !xs.every((x) => x.masterNodeId === m)) return false;
      newMaster = m;
      return true;
    }, { timeoutMs: 15000, intervalMs: 25, what: 'a new master' });
    const failoverMs = Date.now() - killedAt;
    console.log(`failover: new master after ${failoverMs} ms`);
    assert.ok(failoverMs < 5000, `new master within 5 s (took ${failoverMs} ms)`);
    assert.ok(survivors.some((d) => d.nodeId === newMaster));

    // The placement survived the master change, on every survivor.
    await waitFor(async () => (await Promise.all(survivors.map(state))).every((s) => s.instances[id]?.modelId === 'carried-model'
      && s.masterNodeId === newMaster), { what: 'the carried instance in the new session' });

    // The killed node comes back as a service manager would restart it
    // (same data dir, so the same node id; same cluster port, same bootstrap
    // peers) and rejoins as a follower on its own.
    restarted = await startDaemon({
      dataDir: old.dataDir,
      env: { SKULK_NAMESPACE: ns },
      args: ['--cluster-port', String(old.clusterPort),
        '--bootstrap-peers', survivors.map((d) => endpoint(d.clusterPort)).join(',')],
    });
    assert.equal(restarted.nodeId, old.nodeId, 'node ids are lasting (<data-dir>/identity)');
    await waitFor(async () => {
      const x = await diag(restarted);
      const s = await state(restarted);
      return x.masterNodeId === newMaster && !x.isMaster && s.instances[id] && s.nodes[restarted.nodeId];
    }, { timeoutMs: 20000, what: 'the restarted node to follow the new master' });
    // Every survivor hears it too (well before the 30 s node timeout).
    await waitFor(async () => (await Promise.all(survivors.map(diag))).every((x) =>
      x.peers.some((p) => p.nodeId === restarted.nodeId && p.alive)), { timeoutMs: 10000, what: 'survivors to hear the restarted node' });
  } finally {
    await stopAll([...ds, restarted]);
  }
});

test('a node that stops gracefully leaves at once (no 30 s timeout)', async () => {
  const ds = await startCluster({ n: 3, ns: uniqueNamespace('leave') });
  try {
    const master = await waitForAgreement(ds);
    const leaver = ds.find((d) => d.nodeId !== master);
    const leaverId = leaver.nodeId;
    await leaver.stop();
    const rest = ds.filter((d) => d !== leaver);
    await waitFor(async () => (await Promise.all(rest.map(state))).every((s) => !s.nodes[leaverId]),
      { timeoutMs: 10000, what: 'the leaver to be gone from /state' });
  } finally {
    await stopAll(ds);
  }
});

test('a silent node is timed out after SKULK_NODE_TIMEOUT_SECONDS and its instances go', async () => {
  const env = { SKULK_NODE_TIMEOUT_SECONDS: '3', SKULK_TOPOLOGY_SETTLE_GRACE_SECONDS: '0' };
  const ds = await startCluster({ n: 3, ns: uniqueNamespace('timeout'), env });
  try {
    const master = await waitForAgreement(ds);
    const victim = ds.find((d) => d.nodeId !== master);
    const m = ds.find((d) => d.nodeId === master);
    const placed = await m.post('/place_instance', { model_id: 'doomed', node_ids: [victim.nodeId] });
    assert.equal(placed.status, 200, placed.text);
    const id = placed.json.instance_id;
    process.kill(victim.pid, 'SIGSTOP'); // silent but not gone: only the timeout can notice
    try {
      await waitFor(async () => {
        const s = await state(m);
        return !s.nodes[victim.nodeId] && !s.instances[id];
      }, { timeoutMs: 15000, what: 'the silent node and its instance to be removed' });
      const ev = (await m.get('/events?since=-1')).json.events;
      const deleted = ev.findIndex((e) => e.type === 'InstanceDeleted' && e.event.instanceId === id);
      const timedOut = ev.findIndex((e) => e.type === 'NodeTimedOut' && e.event.nodeId === victim.nodeId);
      assert.ok(deleted >= 0 && timedOut > deleted, 'the instance goes before the node');
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
  } finally {
    await stopAll(ds);
  }
});
