// Custom model cards are cluster state (API.md: AddCustomModelCard ->
// CustomModelCardAdded, "nodes persist locally"): a card added on one node
// appears in /v1/models and in the custom cards dir of every node, a node
// that joins later gets it from the snapshot, a restart keeps it, and a
// delete on any node removes it everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, startDaemon, freePortPair, uniqueNamespace, waitForAgreement, stopAll, endpoint, waitFor } from './cluster_helpers.mjs';

const cardToml = (id) =>
  `model_id = "${id}"\nn_layers = 4\nhidden_size = 64\nnum_key_value_heads = 4\ncontext_length = 512\n` +
  `storage_size = 1000000\ntasks = ["TextGeneration"]\n[source]\nhf_repo = "test/${id}"\nhf_file = "m.gguf"\n` +
  `[placement]\ncompatible_backends = ["cpu_blas-cpu"]\nbackend_preference = ["cpu_blas-cpu"]\n`;

// "org/name" -> "org--name.toml", as card_store.cpp names the files.
const cardFile = (d, id) => join(d.dataDir, 'custom_cards', `${id.replace('/', '--')}.toml`);

async function modelIds(d) {
  const r = await d.get('/v1/models', { timeoutMs: 5000 });
  assert.equal(r.status, 200, r.text);
  return r.json.data.map((m) => m.id);
}

const hasCard = async (d, id) => (await modelIds(d)).includes(id) && existsSync(cardFile(d, id));

test('a custom card added on one node reaches every node, late joiners and restarts; a delete removes it everywhere', async () => {
  const ns = uniqueNamespace('cards');
  const id = `org/custom-${process.pid}`;
  const ds = await startCluster({ n: 3, ns });
  let late;
  try {
    await waitForAgreement(ds);
    const [a, b, c] = ds;

    // Validation happens on the receiving node, with the parser's message.
    const bad = await a.post('/models/add', { toml: cardToml(id).replace('n_layers = 4', 'n_layers = "four"') });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json.error.message, /n_layers/);

    const add = await a.post('/models/add', { toml: cardToml(id) });
    assert.equal(add.status, 200, add.text);
    assert.equal(add.json.model_card.is_custom, true);
    assert.ok(await hasCard(a, id), 'the adding node serves it when the POST returns');
    for (const d of [b, c])
      await waitFor(() => hasCard(d, id), { timeoutMs: 10000, what: `card ${id} on node ${d.nodeId}` });
    const text = readFileSync(cardFile(a, id), 'utf8');
    assert.equal(readFileSync(cardFile(b, id), 'utf8'), text, 'every node writes the same card text');
    assert.match(text, /n_layers = 4/);

    // A node that joins afterwards gets it from the replicated state.
    const port = await freePortPair();
    late = await startDaemon({
      args: ['--cluster-port', String(port), '--bootstrap-peers', endpoint(ds[0].clusterPort)],
      env: { SKULK_NAMESPACE: ns },
    });
    await waitFor(() => hasCard(late, id), { timeoutMs: 15000, what: 'the card on the late joiner' });

    // A restart keeps it (the node's own dir is read at start), and the
    // restarted node rejoins the cluster.
    const dataDir = c.dataDir;
    await c.stop({ keepDataDir: true });
    const port2 = await freePortPair();
    const c2 = await startDaemon({
      dataDir,
      args: ['--cluster-port', String(port2), '--bootstrap-peers', endpoint(a.clusterPort)],
      env: { SKULK_NAMESPACE: ns },
    });
    ds[2] = c2;
    assert.ok((await modelIds(c2)).includes(id), 'the restarted node lists the card as soon as it is up');
    await waitForAgreement([a, b, c2, late]);

    // Delete on C: gone from every node's list and dir.
    const del = await c2.delete(`/models/custom/${encodeURIComponent(id)}`);
    assert.equal(del.status, 200, del.text);
    for (const d of [a, b, c2, late])
      await waitFor(async () => !(await modelIds(d)).includes(id) && !existsSync(cardFile(d, id)),
        { timeoutMs: 10000, what: `card ${id} gone from node ${d.nodeId}` });
    assert.equal((await b.delete(`/models/custom/${encodeURIComponent(id)}`)).status, 404, 'an unknown id is 404');
  } finally {
    await stopAll([...ds, late]);
  }
});
