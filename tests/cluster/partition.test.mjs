// A network partition: 3 nodes, each in its own network namespace on one
// switch. While clients on every node keep placing instances, the master's
// switch port goes down (a 2|1 split), then up again. Afterwards all three
// agree on one master and one state, and every placement a client was told
// was accepted is there exactly once. Needs root (ip netns); skips otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, binary } from '../harness/daemon.mjs';
import { uniqueNamespace, waitForAgreement, stopAll, diag, state, waitFor } from './cluster_helpers.mjs';
import { netnsUnavailable, switchedNamespaces } from './netns_helpers.mjs';

const skip = netnsUnavailable() || false;
const CLUSTER_PORT = 52416; // each node has a namespace of its own: no clashes
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

let net;
const started = [];
before(() => { if (!skip) net = switchedNamespaces(3); });
after(async () => {
  await stopAll(started);
  net?.remove();
});
process.on('exit', () => started.forEach((d) => { try { process.kill(d.pid, 'SIGKILL'); } catch { /* gone */ } }));

// A daemon inside a namespace; the test reaches its API over the management link.
class NamespacedDaemon extends Daemon {
  constructor(child, dataDir, host) {
    super(child, dataDir, true);
    this.host = host;
  }
  get baseUrl() { return `http://${this.host}:${this.apiPort}`; }
}

async function startIn(node, peers, ns) {
  const dataDir = mkdtempSync(join(tmpdir(), 'skulk-partition-'));
  const args = ['netns', 'exec', node.ns, binary, '--data-dir', dataDir, '--api-port', '0',
    '--cluster-port', String(CLUSTER_PORT), '--bootstrap-peers', peers.map((p) => `tcp://${p.ip}:${CLUSTER_PORT}`).join(',')];
  const env = { ...process.env, SKULK_BEACONS: '0', SKULK_TEST_NO_STATE_LISTENERS: '1', SKULK_NAMESPACE: ns };
  const d = new NamespacedDaemon(spawn('ip', args, { env, stdio: ['ignore', 'pipe', 'pipe'] }), dataDir, node.mgmtIp);
  started.push(d);
  await waitFor(() => {
    if (d.exited) throw new Error(`skulk-host exited: ${d.stderr}`);
    const r = d.readRuntime();
    if (!r || r.pid !== d.pid) return false;
    d.runtime = r;
    return true;
  }, { what: `runtime.json in ${node.ns}` });
  await waitFor(async () => (await d.get('/healthz', { timeoutMs: 2000 })).status === 200, { what: `/healthz in ${node.ns}` });
  return d;
}

// A client placing one new model after another through `d` until stopped;
// records what it was told.
function placer(d, tag) {
  const p = { accepted: [], refused: [], stopped: false };
  p.done = (async () => {
    for (let i = 0; !p.stopped; ++i) {
      const model = `${tag}-${i}`;
      try {
        const r = await d.post('/place_instance', { model_id: model }, { timeoutMs: 25000 });
        if (r.status === 200) p.accepted.push({ model, id: r.json.instance_id });
        else p.refused.push({ model, status: r.status, error: r.json?.error?.message });
      } catch (e) {
        p.refused.push({ model, error: e.message });
      }
      await delay(100); // pacing, so the log stays small; not a synchronisation
    }
  })();
  return p;
}

test('a 2|1 partition of the master while clients place: no accepted placement lost or duplicated, all agree after', { skip, timeout: 150000 }, async () => {
  const ns = uniqueNamespace('partition');
  const ds = await Promise.all(net.nodes.map((n, i) => startIn(n, net.nodes.filter((_, j) => j !== i), ns)));
  const master = await waitForAgreement(ds, { timeoutMs: 30000 });
  const mi = ds.findIndex((d) => d.nodeId === master);
  const rest = ds.filter((_, i) => i !== mi);
  const placers = ds.map((d, i) => placer(d, `n${i}`));
  try {
    await waitFor(() => placers.every((p) => p.accepted.length >= 2), { timeoutMs: 30000, what: 'placements before the split' });

    net.cut(mi);
    const acceptedAtCut = placers.map((p) => p.accepted.length);
    // The majority elects a new master and goes on accepting.
    let newMaster;
    await waitFor(async () => {
      const xs = await Promise.all(rest.map(diag));
      if (!xs[0].masterNodeId || xs[0].masterNodeId === master || !xs.every((x) => x.masterNodeId === xs[0].masterNodeId)) return false;
      newMaster = xs[0].masterNodeId;
      return true;
    }, { timeoutMs: 20000, what: 'the majority to elect a new master' });
    await waitFor(() => placers.every((p, i) => i === mi || p.accepted.length >= acceptedAtCut[i] + 3),
      { timeoutMs: 30000, what: 'the majority to accept placements during the split' });
    const isolated = await diag(ds[mi]);
    assert.equal(isolated.isMaster, false, 'the isolated old master stepped down (no quorum)');
    assert.equal(isolated.masterNodeId, null, 'the minority side follows no master');

    net.heal(mi);
    await waitForAgreement(ds, { timeoutMs: 30000 });
    for (const p of placers) p.stopped = true;
    await Promise.all(placers.map((p) => p.done));

    // One state everywhere.
    let states;
    await waitFor(async () => {
      states = await Promise.all(ds.map(state));
      const idx = new Set(states.map((s) => `${s.term}/${s.lastEventAppliedIdx}`));
      return idx.size === 1;
    }, { timeoutMs: 15000, what: 'every node at the same index' });
    const instanceSets = states.map((s) => JSON.stringify(Object.keys(s.instances).sort()));
    assert.equal(new Set(instanceSets).size, 1, 'every node lists the same instances');
    assert.equal(new Set(states.map((s) => s.masterNodeId)).size, 1);

    const instances = Object.values(states[0].instances);
    const models = instances.map((i) => i.modelId);
    assert.equal(new Set(models).size, models.length, 'no placement is there twice');
    const accepted = placers.flatMap((p) => p.accepted);
    const lost = accepted.filter((a) => states[0].instances[a.id]?.modelId !== a.model);
    console.log(`accepted ${accepted.length} placements (${placers.map((p) => p.accepted.length).join('/')}), refused `
      + `${placers.map((p) => p.refused.length).join('/')}; new master ${newMaster}; ${instances.length} instances after`);
    assert.deepEqual(lost, [], 'every accepted placement survived the partition');
  } finally {
    for (const p of placers) p.stopped = true;
    await Promise.all(placers.map((p) => p.done));
  }
});
