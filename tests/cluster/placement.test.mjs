// Placement across real daemons: each node reports overridden memory and
// backends on the telemetry topic (SKULK_TELEMETRY_*), and POST
// /place_instance, GET /instance/previews and POST /instance plan against
// them. Expected splits and byte counts are worked out here from the rules
// in docs/architecture.md "## Placement", not read back from the daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon as startPlainDaemon } from '../harness/daemon.mjs';
import { startDaemon, freePortPairs, startAll, uniqueNamespace, waitForAgreement, stopAll, state, endpoint, waitFor } from './cluster_helpers.mjs';

const GB = 1e9;
const FLOOR = 256 * 1024 * 1024;

// One daemon per entry of `envs` (its own telemetry overrides), all peers of each other.
async function startNodes(ns, envs) {
  const ports = await freePortPairs(envs.length);
  return startAll(ports.map((port, i) => () => startDaemon({
    args: ['--cluster-port', String(port), '--bootstrap-peers', ports.filter((_, j) => j !== i).map(endpoint).join(',')],
    env: { SKULK_NAMESPACE: ns, SKULK_BEACONS: '0', ...envs[i] },
  })));
}

function cardToml({ id, layers, bytes, backends = ['cpu_blas-cpu'], ctx = 512 }) {
  return `model_id = "${id}"\nn_layers = ${layers}\nhidden_size = 64\nnum_key_value_heads = 4\ncontext_length = ${ctx}\n` +
    `storage_size = ${bytes}\ntasks = ["TextGeneration"]\n[source]\nhf_repo = "test/${id}"\nhf_file = "${id}.gguf"\n` +
    `[placement]\ncompatible_backends = ${JSON.stringify(backends)}\nbackend_preference = ${JSON.stringify(backends.slice(0, 1))}\n`;
}

async function addCard(d, spec) {
  const r = await d.post('/models/add', { toml: cardToml(spec) });
  assert.equal(r.status, 200, r.text);
}

// The documented admission rule: weights x 1.10 (rounded up) + KV for the
// context budget + 256 MiB. KV per token and layer: 2 x min(64, 4 x 128) x 2 B.
function need({ layers, bytes, ctx = 512 }, k) {
  const weights = (BigInt(bytes) * BigInt(k) * 11n + BigInt(layers) * 10n - 1n) / (BigInt(layers) * 10n);
  return Number(weights) + 2 * 64 * 2 * k * ctx + FLOOR;
}

// Largest-remainder split of `layers` proportional to `mem` (ties: lower rank).
function split(layers, mem) {
  const total = mem.reduce((a, b) => a + b, 0);
  const exact = mem.map((m) => (layers * m) / total);
  const out = exact.map(Math.floor);
  const order = exact.map((e, i) => [e - Math.floor(e), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let j = 0, left = layers - out.reduce((a, b) => a + b, 0); left > 0; --left, ++j) out[order[j % out.length][1]] += 1;
  return out;
}

const gb1 = (bytes) => `${(bytes / GB).toFixed(1)} GB`;

test('memory, backends and exclusions decide the plan; a model too big for one node spans two', async () => {
  const ns = uniqueNamespace('place');
  const memA = 5 * GB, memB = 2.5 * GB;
  const ds = await startNodes(ns, [
    { SKULK_TELEMETRY_RAM_AVAILABLE_BYTES: String(memA), SKULK_TELEMETRY_RAM_TOTAL_BYTES: String(8 * GB), SKULK_TELEMETRY_BACKENDS: 'cpu_blas-cpu:10' },
    { SKULK_TELEMETRY_RAM_AVAILABLE_BYTES: String(memB), SKULK_TELEMETRY_RAM_TOTAL_BYTES: String(4 * GB), SKULK_TELEMETRY_BACKENDS: 'cpu_blas-cpu:10' },
    // Plenty of memory, but no backend the cards allow.
    { SKULK_TELEMETRY_RAM_AVAILABLE_BYTES: String(50 * GB), SKULK_TELEMETRY_BACKENDS: 'metal-gpu:10' },
  ]);
  try {
    await waitForAgreement(ds);
    const [a, b, c] = ds;
    const front = ds[1];
    // Every node's reading reaches the node we ask (telemetry is gossip, not events).
    await waitFor(async () => {
      const s = await state(front);
      return ds.every((d) => s.nodeMemory[d.nodeId] && s.nodeResources[d.nodeId]);
    }, { what: 'telemetry of 3 nodes in /state' });
    const s0 = await state(front);
    assert.equal(s0.nodeMemory[a.nodeId].ramAvailable, memA);
    assert.equal(s0.nodeMemory[a.nodeId].ramTotal, 8 * GB);
    assert.deepEqual(s0.nodeResources[c.nodeId].backends, [{ tag: 'metal-gpu', score: 10 }]);
    assert.ok(s0.nodeSystem[b.nodeId].cpuCores >= 1);
    assert.ok(s0.nodeDisk[b.nodeId].total > 0);

    const big = { id: 'big-model', layers: 12, bytes: 6 * GB };
    const huge = { id: 'huge-model', layers: 12, bytes: 20 * GB };
    const gpuOnly = { id: 'gpu-model', layers: 4, bytes: 1 * GB, backends: ['vulkan-gpu'] };
    const small = { id: 'small-model', layers: 4, bytes: 0.5 * GB };
    for (const spec of [big, huge, gpuOnly, small]) await addCard(front, spec);

    // Too big for any single node: A alone would need more than it has.
    assert.ok(need(big, 12) > memA);
    const mem = [memA, memB];
    const layers = split(12, mem);
    assert.deepEqual(layers, [8, 4]);
    assert.ok(need(big, layers[0]) <= memA && need(big, layers[1]) <= memB, 'the test setup fits over A+B');

    // Previews: 1 node rules it out with the arithmetic, 2 nodes is the plan, 3 lacks a compatible node.
    const pv = await front.get('/instance/previews?model_id=big-model');
    assert.equal(pv.status, 200, pv.text);
    const pipe = pv.json.previews.filter((p) => p.sharding === 'Pipeline');
    assert.deepEqual(pipe.map((p) => p.node_count), [1, 2, 3]);
    assert.equal(pipe[0].instance, null);
    assert.match(pipe[0].error, new RegExp(`node ${a.nodeId} needs ${gb1(need(big, 12))} for 12 layers.*has ${gb1(memA)} usable`));
    assert.equal(pipe[1].error, null);
    assert.deepEqual(pipe[1].memory_delta_by_node, { [a.nodeId]: need(big, 8), [b.nodeId]: need(big, 4) });
    assert.match(pipe[2].error, /not enough nodes \(min_nodes 3, 2 available\)/);
    assert.ok(pv.json.previews.filter((p) => p.sharding === 'Tensor').every((p) => p.instance === null && p.error));

    const placed = await front.post('/place_instance', { model_id: 'big-model', sharding: 'Pipeline', min_nodes: 1, excluded_nodes: [] });
    assert.equal(placed.status, 200, placed.text);
    assert.equal(placed.json.model_card.model_id, 'big-model');
    const id = placed.json.instance_id;
    await waitFor(async () => (await Promise.all(ds.map(state))).every((s) => s.instances[id]), { what: 'the planned instance on every node' });
    const inst = (await state(c)).instances[id];
    assert.equal(inst.contextTokenLimit, 512);
    assert.deepEqual(inst.shards.map((s) => [s.nodeId, s.rank, s.worldSize, s.firstLayer, s.lastLayer, s.backend]), [
      [a.nodeId, 0, 2, 0, layers[0] - 1, 'cpu_blas-cpu'],
      [b.nodeId, 1, 2, layers[0], 11, 'cpu_blas-cpu'],
    ]);
    assert.deepEqual(pipe[1].instance.shards, inst.shards);

    // No runner loads it here (the worker is muted in cluster tests), so its
    // memory stays promised: the same model does not fit a second time.
    const again = await front.post('/place_instance', { model_id: 'big-model' });
    assert.equal(again.status, 400, again.text);
    assert.match(again.json.error.message, /promised to instances still loading/);
    const del = await front.request('DELETE', `/instance/${id}`);
    assert.equal(del.status, 200, del.text);
    await waitFor(async () => !(await state(front)).instances[id], { what: 'the instance deleted' });

    // Too little memory anywhere: 400 naming the per-node arithmetic of the widest set.
    const tooBig = await front.post('/place_instance', { model_id: 'huge-model' });
    assert.equal(tooBig.status, 400, tooBig.text);
    assert.match(tooBig.json.error.message, new RegExp(`node ${a.nodeId} needs ${gb1(need(huge, 8))} for 8 layers.*has ${gb1(memA)} usable`));
    assert.match(tooBig.json.error.message, new RegExp(`node ${b.nodeId} needs ${gb1(need(huge, 4))} for 4 layers.*has ${gb1(memB)} usable`));

    const noBackend = await front.post('/place_instance', { model_id: 'gpu-model' });
    assert.equal(noBackend.status, 400, noBackend.text);
    assert.match(noBackend.json.error.message, /no node has a compatible backend \(card wants \[vulkan-gpu\]; nodes offer/);
    assert.ok(noBackend.json.error.message.includes(`${c.nodeId}: [metal-gpu]`));

    const allOut = await front.post('/place_instance', { model_id: 'small-model', excluded_nodes: ds.map((d) => d.nodeId) });
    assert.equal(allOut.status, 400, allOut.text);
    assert.match(allOut.json.error.message, /exclusions removed every candidate/);
    // Without A, B alone cannot hold big-model.
    const withoutA = await front.post('/place_instance', { model_id: 'big-model', excluded_nodes: [a.nodeId] });
    assert.equal(withoutA.status, 400, withoutA.text);
    assert.match(withoutA.json.error.message, new RegExp(`node ${b.nodeId} needs ${gb1(need(big, 12))} for 12 layers`));
    const minNodes = await front.post('/place_instance', { model_id: 'small-model', min_nodes: 3 });
    assert.equal(minNodes.status, 400, minNodes.text);
    assert.match(minNodes.json.error.message, /not enough nodes \(min_nodes 3, 2 available\)/);

    const unknown = await front.get('/instance/previews?model_id=no-such-model');
    assert.equal(unknown.status, 404, unknown.text);

    // POST /instance: a hand-made layout is checked like a plan.
    const shard = (nodeId, rank, world, first, last, backend = 'cpu_blas-cpu') =>
      ({ nodeId, rank, worldSize: world, firstLayer: first, lastLayer: last, backend });
    const gap = await front.post('/instance', { instance: { modelId: 'small-model', shards: [shard(a.nodeId, 0, 2, 0, 1), shard(b.nodeId, 1, 2, 3, 3)] } });
    assert.equal(gap.status, 400, gap.text);
    assert.match(gap.json.error.message, /contiguous/);
    const wrongBackend = await front.post('/instance', { instance: { modelId: 'small-model', shards: [shard(c.nodeId, 0, 1, 0, 3, 'metal-gpu')] } });
    assert.equal(wrongBackend.status, 400, wrongBackend.text);
    assert.match(wrongBackend.json.error.message, /not compatible/);
    const full = await front.post('/instance', { instance: { modelId: 'big-model', shards: [shard(b.nodeId, 0, 1, 0, 11)] } });
    assert.equal(full.status, 400, full.text);
    assert.match(full.json.error.message, new RegExp(`node ${b.nodeId} needs ${gb1(need(big, 12))} for 12 layers`));
    const manual = await front.post('/instance', { instance: { modelId: 'small-model', shards: [shard(b.nodeId, 0, 2, 0, 0), shard(a.nodeId, 1, 2, 1, 3)] } });
    assert.equal(manual.status, 200, manual.text);
    await waitFor(async () => (await state(a)).instances[manual.json.instance_id]?.shards.length === 2, { what: 'the manual instance' });
  } finally {
    await stopAll(ds);
  }
});

test('a node without telemetry keeps placement pending (503 after 15 s) unless it is excluded', async () => {
  const ns = uniqueNamespace('pending');
  const ds = await startNodes(ns, [
    { SKULK_TELEMETRY_RAM_AVAILABLE_BYTES: String(4 * GB), SKULK_TELEMETRY_BACKENDS: 'cpu_blas-cpu:10' },
    { SKULK_TEST_TELEMETRY_DISABLED: '1' },
  ]);
  try {
    await waitForAgreement(ds);
    const [front, silent] = ds;
    await waitFor(async () => (await state(front)).nodeMemory[front.nodeId], { what: 'own telemetry' });
    await addCard(front, { id: 'small-model', layers: 4, bytes: 0.5 * GB });
    const started = Date.now();
    const pending = await front.post('/place_instance', { model_id: 'small-model' }, { timeoutMs: 40000 });
    const waited = Date.now() - started;
    assert.equal(pending.status, 503, pending.text);
    assert.match(pending.json.error.message, new RegExp(`info pending: no telemetry yet from node ${silent.nodeId}`));
    assert.ok(waited >= 14000, `waited ${waited} ms for the telemetry before giving up`);
    assert.equal((await state(front)).nodeMemory[silent.nodeId], undefined);

    const placed = await front.post('/place_instance', { model_id: 'small-model', excluded_nodes: [silent.nodeId] });
    assert.equal(placed.status, 200, placed.text);
    // The command reply comes from the master; this node may apply the event a moment later.
    const inst = await waitFor(async () => (await state(front)).instances[placed.json.instance_id], { what: 'the instance in /state' });
    assert.deepEqual(inst.shards.map((s) => s.nodeId), [front.nodeId]);
  } finally {
    await stopAll(ds);
  }
});

test('request errors: unknown model 404 (outside the cluster-core test hook), malformed fields 400', async () => {
  // The plain harness: no SKULK_TEST_NO_STATE_LISTENERS, so a model id
  // without a card is not placed as a placeholder.
  const d = await startPlainDaemon({ env: { SKULK_NAMESPACE: uniqueNamespace('place-errors'), SKULK_TELEMETRY_BACKENDS: 'cpu_blas-cpu:1' } });
  try {
    const unknown = await d.post('/place_instance', { model_id: 'no-such-model' });
    assert.equal(unknown.status, 404, unknown.text);
    assert.match(unknown.json.error.message, /no model card for no-such-model/);
    for (const [body, field] of [[{ model_id: 'stories260k', min_nodes: 0 }, /min_nodes/],
                                 [{ model_id: 'stories260k', excluded_nodes: 'a' }, /excluded_nodes/],
                                 [{ model_id: 'stories260k', sharding: 'Diagonal' }, /Diagonal/],
                                 [{ model_id: 5 }, /model_id/]]) {
      const r = await d.post('/place_instance', body);
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.error.message, field);
    }
    const noShards = await d.post('/instance', { instance: { modelId: 'stories260k', shards: [] } });
    assert.equal(noShards.status, 400, noShards.text);
    assert.match(noShards.json.error.message, /shards/);
    const missing = await d.get('/instance/previews');
    assert.equal(missing.status, 400, missing.text);
  } finally {
    await d.stop();
  }
});
