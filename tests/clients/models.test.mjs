// Model cards through a real skulk-host and the official `openai` SDK:
// list (finds the built-in stories260k card), retrieve, add a custom card
// over raw HTTP, see it listed, delete it, and the error envelopes.
//
//   node --test tests/clients/models.test.mjs     (SKULK_BUILD_DIR: the build to test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, sourceDir } from '../harness/daemon.mjs';
import { importOpenAI } from './serving_helpers.mjs';

const { default: OpenAI, NotFoundError } = await importOpenAI();

const builtinCard = join(sourceDir, 'cards', 'stories260k.toml');

// A field of a TOML card read with a plain regex, independently of the daemon's parser.
function tomlInt(text, key) {
  const m = text.match(new RegExp(`^${key}\\s*=\\s*(\\d+)`, 'm'));
  return m ? Number(m[1]) : undefined;
}

function customCard(id) {
  return {
    model_id: id,
    name: `Custom ${id}`,
    family: 'llama',
    n_layers: 5,
    context_length: 512,
    tasks: ['TextGeneration'],
    capabilities: ['text'],
    source: { path: join(sourceDir, 'cards', 'models', 'stories260K.gguf') }, // in the built-in cards folder: a model folder
    placement: { compatible_backends: ['cpu_blas-cpu'], backend_preference: ['cpu_blas-cpu'] },
  };
}

let daemon;
let client;

before(async () => {
  daemon = await startDaemon();
  client = new OpenAI({ baseURL: `${daemon.baseUrl}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30000 });
});

after(async () => {
  const r = await daemon.stop();
  assert.equal(r.timedOut, false, 'the daemon stops on SIGTERM');
});

async function listIds() {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  return ids;
}

test('the openai SDK lists the built-in stories260k card', { skip: !existsSync(builtinCard) && 'cards/stories260k.toml is not in this tree yet' }, async () => {
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  const card = models.find((m) => m.id === 'stories260k');
  assert.ok(card, `stories260k in ${JSON.stringify(models.map((m) => m.id))}`);
  assert.equal(card.object, 'model');
  assert.equal(card.owned_by, 'skulk');
  assert.equal(typeof card.created, 'number');
  assert.equal(card.is_custom, false);
  const text = readFileSync(builtinCard, 'utf8');
  assert.equal(card.n_layers, tomlInt(text, 'n_layers'));
  assert.equal(card.context_length, tomlInt(text, 'context_length'));
  const one = await client.models.retrieve('stories260k');
  assert.equal(one.id, 'stories260k');
});

test('a custom card is added, listed, retrieved and deleted', async () => {
  const id = `test-org/custom-${process.pid}`;
  assert.ok(!(await listIds()).includes(id));

  const add = await daemon.post('/models/add', customCard(id));
  assert.equal(add.status, 200, add.text);
  assert.equal(add.json.model_card.id, id);

  assert.ok((await listIds()).includes(id), 'listed after add');
  const got = await client.models.retrieve(id);
  assert.equal(got.is_custom, true);
  assert.equal(got.n_layers, 5);
  assert.deepEqual(got.placement.compatible_backends, ['cpu_blas-cpu']);

  const del = await daemon.delete(`/models/custom/${encodeURIComponent(id)}`);
  assert.equal(del.status, 200, del.text);
  assert.ok(!(await listIds()).includes(id), 'gone after delete');
  await assert.rejects(client.models.retrieve(id), NotFoundError);
});

test('a card given as TOML text is accepted too', async () => {
  const id = `toml-card-${process.pid}`;
  const toml = `model_id = "${id}"\nn_layers = 2\n[source]\nhf_repo = "org/repo"\nhf_file = "m.gguf"\n` +
    `[placement]\ncompatible_backends = ["cpu_blas-cpu"]\n`;
  const add = await daemon.post('/models/add', { toml });
  assert.equal(add.status, 200, add.text);
  assert.equal((await client.models.retrieve(id)).source.hf_repo, 'org/repo');
  assert.equal((await daemon.delete(`/models/custom/${id}`)).status, 200);
});

function assertEnvelope(r, status, messagePart) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json && r.json.error, `error envelope expected: ${r.text}`);
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in r.json.error, `error.${k} in ${r.text}`);
  assert.match(r.json.error.message, new RegExp(messagePart.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
}

test('invalid cards are 400 with the reason, unknown deletes 404', async () => {
  const badType = { ...customCard('bad-type'), n_layers: 'five' };
  assertEnvelope(await daemon.post('/models/add', badType), 400, 'n_layers');
  const noId = customCard('x');
  delete noId.model_id;
  assertEnvelope(await daemon.post('/models/add', noId), 400, 'model_id');
  assertEnvelope(await daemon.post('/models/add', '{"model_id": '), 400, 'invalid JSON');
  assertEnvelope(await daemon.post('/models/add', { toml: 'model_id = = 3' }), 400, 'request body (toml):1');
  assert.ok(!(await listIds()).includes('bad-type'));

  assertEnvelope(await daemon.delete('/models/custom/no-such-card'), 404, 'no-such-card');
  await assert.rejects(client.models.retrieve('no-such-card'), (e) => e instanceof NotFoundError && e.status === 404);
});

test('built-in cards cannot be deleted', { skip: !existsSync(builtinCard) && 'cards/stories260k.toml is not in this tree yet' }, async () => {
  assertEnvelope(await daemon.delete('/models/custom/stories260k'), 409, 'built-in');
  assert.ok((await listIds()).includes('stories260k'));
});

test('--cards-dir: a broken card is skipped and logged with file, line and field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulk-cards-'));
  try {
    writeFileSync(join(dir, 'good.toml'), 'model_id = "dir-card"\nn_layers = 1\n[source]\npath = "m.gguf"\n' +
      '[placement]\ncompatible_backends = ["cpu_blas-cpu"]\n');
    writeFileSync(join(dir, 'broken.toml'), 'model_id = "broken-card"\nn_layers = "one"\n[source]\npath = "m.gguf"\n' +
      '[placement]\ncompatible_backends = ["cpu_blas-cpu"]\n');
    const d2 = await startDaemon({ args: ['--cards-dir', dir] });
    try {
      const c2 = new OpenAI({ baseURL: `${d2.baseUrl}/v1`, apiKey: 'not-needed', maxRetries: 0 });
      const ids = [];
      for await (const m of c2.models.list()) ids.push(m.id);
      assert.ok(ids.includes('dir-card'), JSON.stringify(ids));
      assert.ok(!ids.includes('broken-card'));
      const got = await c2.models.retrieve('dir-card');
      assert.equal(got.source.path, join(dir, 'm.gguf'), 'source.path is relative to the card file');
    } finally {
      await d2.stop();
    }
    assert.match(d2.stderr, /broken\.toml:2: field 'n_layers': expected an integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
