// A non-streaming client that disconnects while its answer is being
// generated cancels the runner request at once (HttpResponse::peer_gone(),
// polled every ~100 ms), not only when the final write fails.
//
//   node --test tests/clients/client_gone.test.mjs   (SKULK_BUILD_DIR: the build to test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { waitFor } from '../harness/daemon.mjs';
import { MODEL, startServingClient, stopServing, servingSkip, importOpenAI } from './serving_helpers.mjs';

const { default: OpenAI } = await importOpenAI();

let daemon;
let client;

before(async () => {
  if (servingSkip) return;
  ({ daemon, client } = await startServingClient(OpenAI, { timeout: 120000 }));
});

after(() => stopServing(daemon));

async function metrics() {
  const text = (await daemon.get('/metrics')).text;
  const num = (re) => { const m = text.match(re); return m ? Number(m[1]) : 0; };
  return {
    gone: num(/skulk_http_requests_total\{route="\/v1\/completions",status="499"\} (\d+)/),
    running: num(/^skulk_running_requests (\d+)/m),
    queued: num(/^skulk_queue_depth (\d+)/m),
  };
}

test('a non-streaming client that disconnects mid-generation cancels its request', { skip: servingSkip }, async () => {
  // Long background requests share the runner's batch, so the one we drop
  // (sent after them, as long as they are) cannot finish before they do.
  const before = await metrics();
  let backgroundDone = 0;
  const background = Array.from({ length: 16 }, () =>
    client.completions.create({ model: MODEL, prompt: 'The dog', max_tokens: 400, temperature: 0 })
      .then((r) => { backgroundDone++; return r; }));
  await waitFor(async () => (await metrics()).running >= 16, { timeoutMs: 20000, what: '16 background requests running' });

  const body = JSON.stringify({ model: MODEL, prompt: 'Once upon a time', max_tokens: 400, temperature: 0 });
  const sock = connect(daemon.apiPort, '127.0.0.1');
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  let answered = false;
  sock.on('data', () => { answered = true; });
  sock.write(`POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await waitFor(async () => { const m = await metrics(); return m.running + m.queued >= 17; },
    { timeoutMs: 20000, what: 'the dropped request to reach the runner' });
  sock.destroy();

  await waitFor(async () => (await metrics()).gone === before.gone + 1,
    { timeoutMs: 10000, intervalMs: 20, what: 'the disconnected request to be counted as 499' });
  assert.equal(answered, false, 'no answer was sent before the disconnect');
  assert.ok(backgroundDone < 16, `cancelled before the generation could have finished (${backgroundDone}/16 background requests done)`);
  // The gauge falls back to the background requests only.
  assert.ok((await metrics()).running <= 16);
  for (const r of await Promise.all(background)) assert.ok(r.usage.completion_tokens > 0);
  await waitFor(async () => { const m = await metrics(); return m.running === 0 && m.queued === 0; },
    { timeoutMs: 10000, what: 'no request left running' });
});
