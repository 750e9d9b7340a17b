// Runner failures seen through the API: a runner killed with SIGKILL in the
// middle of a stream ends that stream with a terminal error within 6 s, the
// daemon survives and serves again once the supervisor has restarted the
// runner; a runner that crashes three times within a minute (a corrupt GGUF)
// gets its instance given up, with the reason in /events.
//
//   node --test tests/clients/runner_failure.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../harness/daemon.mjs';
import { MODEL, startServingClient, stopServing, servingSkip, runnerPids, waitReady, importOpenAI } from './serving_helpers.mjs';

const { default: OpenAI, APIError } = await importOpenAI();

let daemon;
let client;

before(async () => {
  if (servingSkip) return;
  ({ daemon, client } = await startServingClient(OpenAI));
});

after(async () => {
  await stopServing(daemon);
});

test('kill -9 of the runner mid-stream: a terminal error within 6 s, then served again', { skip: servingSkip }, async () => {
  const [pid] = runnerPids(daemon.pid);
  assert.ok(pid, 'the daemon has a skulk-runner child');
  // Many long streams at once, so that generation is still running when the kill lands.
  const N = 16;
  const started = [];
  const streams = Array.from({ length: N }, async () => {
    const s = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 450, temperature: 1,
      stream: true });
    let resolveFirst;
    started.push(new Promise((r) => (resolveFirst = r)));
    let chunks = 0;
    try {
      for await (const c of s) {
        if (chunks++ === 0) resolveFirst();
        void c;
      }
      resolveFirst();
      return { ok: true, chunks };
    } catch (e) {
      resolveFirst();
      return { ok: false, error: e, at: performance.now(), chunks };
    }
  });
  await waitFor(() => started.length === N, { timeoutMs: 30000, what: 'all streams answered' });
  await Promise.race(started);
  const killedAt = performance.now();
  process.kill(pid, 'SIGKILL');
  const results = await Promise.all(streams);
  const failed = results.filter((r) => !r.ok);
  assert.ok(failed.length > 0, `some stream was still running when the runner died (${JSON.stringify(results.map((r) => r.chunks))})`);
  for (const f of failed) {
    assert.ok(f.error instanceof APIError, String(f.error));
    assert.match(f.error.message, /may be retried/);
    assert.ok(f.at - killedAt < 6000, `terminal error ${Math.round(f.at - killedAt)} ms after the kill`);
  }
  // The daemon survived; the supervisor starts a new runner and the model serves again.
  assert.equal((await daemon.get('/healthz')).status, 200);
  await waitFor(() => {
    const now = runnerPids(daemon.pid);
    return now.length === 1 && now[0] !== pid;
  }, { timeoutMs: 30000, what: 'a new runner process' });
  await waitReady(daemon);
  const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
  assert.ok(r.choices[0].text.length > 0);
});

test('a runner that crashes three times in a minute gives its instance up, with the reason', { skip: servingSkip }, async () => {
  // A well-formed GGUF with no metadata and no tensors: /models/add accepts
  // the file (it checks the container, not the model), the runner fails
  // while loading it (no architecture). In <data-dir>/models: model files
  // may come only from the model folders.
  const models = join(daemon.dataDir, 'models');
  mkdirSync(models, { recursive: true });
  const corrupt = join(models, 'corrupt.gguf');
  writeFileSync(corrupt, Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(16, 0)]));
  const id = `corrupt-${process.pid}`;
  const add = await daemon.post('/models/add', {
    model_id: id, n_layers: 5, hidden_size: 64, num_key_value_heads: 4, context_length: 512, storage_size: 24,
    tasks: ['TextGeneration'],
    source: { path: corrupt }, placement: { compatible_backends: ['cpu_blas-cpu'] },
  });
  assert.equal(add.status, 200, add.text);
  const placed = await daemon.post('/place_instance', { model_id: id });
  assert.equal(placed.status, 200, placed.text);
  const instanceId = placed.json.instance_id;
  assert.ok(instanceId);
  // Three failures, then the breaker: a Failed runner status with the reason, and the instance deleted.
  const failedEvent = await waitFor(async () => {
    const ev = (await daemon.get('/events')).json.events;
    return ev.find((e) => e.type === 'RunnerStatusUpdated' && e.event.instanceId === instanceId && e.event.status.kind === 'Failed');
  }, { timeoutMs: 60000, what: 'a Failed runner status for the corrupt model' });
  assert.match(failedEvent.event.status.errorMessage, /3 failures within 60 s; gave up/);
  await waitFor(async () => !(await daemon.get('/state')).json.instances[instanceId],
    { timeoutMs: 15000, what: 'the given-up instance deleted' });
  const deleted = (await daemon.get('/events')).json.events.find((e) => e.type === 'InstanceDeleted' && e.event.instanceId === instanceId);
  assert.ok(deleted, 'InstanceDeleted in /events');
  // The bundled model is untouched.
  const r = await client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, temperature: 0 });
  assert.ok(r.usage.completion_tokens > 0);
});
