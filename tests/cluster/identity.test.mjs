// Lasting node identity: the key pair in <data-dir>/identity/ makes a
// restarted node the same member, and the master drops what the old process
// ran at once (no ghost instances with no runner).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, startCluster, uniqueNamespace, waitForAgreement, stopAll, state, endpoint, waitFor } from './cluster_helpers.mjs';

const restartOf = (d, ns, peers) => startDaemon({
  dataDir: d.dataDir,
  env: { SKULK_NAMESPACE: ns },
  args: ['--cluster-port', String(d.clusterPort), '--bootstrap-peers', peers.map((p) => endpoint(p.clusterPort)).join(',')],
});

test('the identity key pair lives in <data-dir>/identity, private to the owner', async () => {
  const d = await startDaemon({ env: { SKULK_NAMESPACE: uniqueNamespace('idfile') } });
  try {
    const dir = join(d.dataDir, 'identity');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'node.key')).mode & 0o777, 0o600);
    const [pub, sec] = readFileSync(join(dir, 'node.key'), 'utf8').split('\n');
    assert.equal(pub.length, 40);
    assert.equal(sec.length, 40);
    assert.match(d.nodeId, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  } finally {
    await d.stop();
  }
});

test('kill -9 and restart with the same data dir: the same node id, its old instances go at once', async () => {
  const ns = uniqueNamespace('restart');
  const ds = await startCluster({ n: 2, ns });
  let again;
  try {
    const master = await waitForAgreement(ds);
    const m = ds.find((d) => d.nodeId === master);
    const victim = ds.find((d) => d !== m);
    const placed = await m.post('/place_instance', { model_id: 'ghost-model', node_ids: [victim.nodeId] });
    assert.equal(placed.status, 200, placed.text);
    const id = placed.json.instance_id;
    await waitFor(async () => (await state(victim)).instances[id], { what: 'the instance on the victim' });

    await victim.kill9();
    again = await restartOf(victim, ns, [m]);
    // Well inside the 30 s node timeout: the instance the old process ran is
    // gone (it has no runner now: no ghost) and the node is a member again.
    await waitFor(async () => {
      const s = await state(m);
      return !s.instances[id] && s.nodes[again.nodeId];
    }, { timeoutMs: 8000, what: 'the old instance to be deleted and the node to be a member again' });
    assert.equal(again.nodeId, victim.nodeId, 'a restarted node keeps its id');
    const s = await state(m);
    assert.deepEqual(Object.keys(s.nodes).sort(), ds.map((d) => d.nodeId).sort(), 'no ghost member either');
    await waitFor(async () => (await state(again)).masterNodeId === master && !(await state(again)).instances[id],
      { timeoutMs: 8000, what: 'the restarted node to follow the master' });
  } finally {
    await stopAll([again]); // first: it runs in a data dir the first process owns
    await stopAll(ds);
  }
});

test('a node that left gracefully and starts again with its data dir rejoins', async () => {
  const ns = uniqueNamespace('rejoin');
  const ds = await startCluster({ n: 2, ns });
  let again;
  try {
    const master = await waitForAgreement(ds);
    const m = ds.find((d) => d.nodeId === master);
    const leaver = ds.find((d) => d !== m);
    await leaver.stop({ keepDataDir: true });
    await waitFor(async () => !(await state(m)).nodes[leaver.nodeId], { timeoutMs: 8000, what: 'the leaver to be gone' });
    again = await restartOf(leaver, ns, [m]);
    assert.equal(again.nodeId, leaver.nodeId);
    await waitForAgreement([m, again], { timeoutMs: 10000 });
  } finally {
    await stopAll([again]); // first: it runs in a data dir the first process owns
    await stopAll(ds);
  }
});

test('a master killed and restarted at once (before its peers notice) is followed by one new election, not a stalemate', async () => {
  const ns = uniqueNamespace('fastrestart');
  const ds = await startCluster({ n: 2, ns });
  let again;
  try {
    const master = await waitForAgreement(ds);
    const m = ds.find((d) => d.nodeId === master);
    const other = ds.find((d) => d !== m);
    await m.kill9();
    again = await restartOf(m, ns, [other]);
    assert.equal(again.nodeId, master);
    // The follower sees the same id with a new incarnation: the master it
    // followed is gone, whatever the id says.
    await waitForAgreement([other, again], { timeoutMs: 15000 });
  } finally {
    await stopAll([again]);
    await stopAll(ds);
  }
});
