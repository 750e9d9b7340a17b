// The serving path end to end through the official `openai` SDK: a real
// skulk-host started with --place stories260k (the README's run command),
// its worker spawning a real skulk-runner, the openai adapter plugin, SSE.
//
//   node --test tests/clients/serving.test.mjs   (SKULK_BUILD_DIR: the build to test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../harness/daemon.mjs';
import { MODEL, startServingClient, stopServing, servingSkip, readSse, generateReference, instanceOf, runnerPids, importOpenAI } from './serving_helpers.mjs';

const { default: OpenAI, BadRequestError, NotFoundError } = await importOpenAI();

let daemon;
let client;

before(async () => {
  if (servingSkip) return;
  ({ daemon, client } = await startServingClient(OpenAI));
});

after(() => stopServing(daemon));

const PROMPT = 'Once upon a time';

test('completions at temperature 0 equal skulk-generate\'s greedy output', { skip: servingSkip }, async () => {
  const ref = generateReference(PROMPT, 24);
  const r = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 24, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.model, MODEL);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].text, ref.text, 'the same tokens through HTTP as through the engine directly');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 24);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('chat non-stream and stream give the same text at temperature 0', { skip: servingSkip }, async () => {
  const messages = [{ role: 'user', content: 'Tell me a story about a cat.' }];
  const whole = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 32, temperature: 0 });
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0].message.role, 'assistant');
  const text = whole.choices[0].message.content;
  assert.equal(typeof text, 'string');
  assert.ok(text.length > 0, 'some text');
  assert.ok(whole.usage.completion_tokens > 0 && whole.usage.completion_tokens <= 32);

  const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 32, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let streamed = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.content) streamed += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks > 2, `several chunks (${chunks})`);
  assert.equal(streamed, text);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
});

test('models list names the placed model', { skip: servingSkip }, async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(MODEL), JSON.stringify(ids));
});

test('errors come back as typed SDK errors', { skip: servingSkip }, async () => {
  // Malformed JSON: raw fetch (the SDK cannot send it).
  const raw = await daemon.fetch('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: '{"model": "stories260k", "messages": [' });
  assert.equal(raw.status, 400);
  const env = await raw.json();
  assert.equal(env.error.type, 'invalid_request_error');

  await assert.rejects(client.chat.completions.create({ model: MODEL }), (e) => {
    assert.ok(e instanceof BadRequestError, String(e));
    assert.match(e.message, /messages/);
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.match(e.message, /No instance found for model no-such-model/);
      return true;
    });
  // Far more than the 512-token context.
  const long = 'the cat sat on the mat and looked at the dog '.repeat(300);
  await assert.rejects(client.completions.create({ model: MODEL, prompt: long, max_tokens: 8 }), (e) => {
    assert.ok(e instanceof BadRequestError, String(e));
    assert.equal(e.code, 'context_length_exceeded');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: long }], stream: true }),
    (e) => e instanceof BadRequestError && e.code === 'context_length_exceeded');
});

test('POST /v1/cancel/{command_id} ends a running stream', { skip: servingSkip }, async () => {
  // Other long streams share the runner's batch, so the cancelled one is
  // surely still generating when the cancel lands (a lone stream of this
  // tiny model finishes 400 tokens in a quarter of a second).
  const background = Array.from({ length: 16 }, () =>
    client.completions.create({ model: MODEL, prompt: 'The dog', max_tokens: 400, temperature: 0 }));
  const res = await daemon.fetch('/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: PROMPT, max_tokens: 400, temperature: 0.9, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  let commandId = null, cancelStatus = null, usage = null, finish = null, done = false;
  await readSse(res, async (line) => {
    const m = line.match(/^: command_id (\S+)/);
    if (m) {
      commandId = m[1];
      // Cancel at once: the generation of 400 tokens is still far from its end.
      cancelStatus = (await daemon.post(`/v1/cancel/${commandId}`, {})).status;
      return false;
    }
    if (line === 'data: [DONE]') done = true;
    else if (line.startsWith('data: ')) {
      const c = JSON.parse(line.slice(6));
      if (c.usage) usage = c.usage;
      if (c.choices?.[0]?.finish_reason) finish = c.choices[0].finish_reason;
    }
    return false;
  });
  assert.ok(commandId, 'the stream names its command_id early');
  assert.equal(cancelStatus, 200, 'the request was still in flight');
  assert.ok(done, 'the cancelled stream still ends cleanly');
  assert.equal(finish, 'stop');
  assert.ok(usage.completion_tokens < 400, `stopped early (${usage.completion_tokens} tokens)`);
  assert.equal((await daemon.post(`/v1/cancel/${commandId}`, {})).status, 404, 'no longer in flight');
  assert.equal((await daemon.post('/v1/cancel/cmd-unknown', {})).status, 404);
  for (const b of await Promise.all(background)) assert.ok(b.usage.completion_tokens > 0, 'the other streams are unaffected');
});

test('32 concurrent greedy streams each equal the single-client output', { skip: servingSkip }, async () => {
  const body = { model: MODEL, prompt: PROMPT, max_tokens: 48, temperature: 0 };
  const single = (await client.completions.create(body)).choices[0].text;
  assert.ok(single.length > 0);
  const one = async () => {
    let text = '';
    const s = await client.completions.create({ ...body, stream: true });
    for await (const c of s) text += c.choices[0]?.text ?? '';
    return text;
  };
  const outs = await Promise.all(Array.from({ length: 32 }, one));
  assert.equal(outs.length, 32);
  for (const [i, t] of outs.entries()) assert.equal(t, single, `stream ${i}`);
});

test('/metrics counts requests, tokens and runner states', { skip: servingSkip }, async () => {
  // Every route is counted under its pattern, unknown paths under one label.
  assert.equal((await daemon.get('/instance/no-such-instance')).status, 404);
  assert.equal((await daemon.get('/no/such/route')).status, 404);
  const r = await daemon.get('/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/plain/);
  const m = r.text;
  const value = (re) => {
    const x = m.match(re);
    return x ? Number(x[1]) : NaN;
  };
  // At least the 33 successful completions of the concurrency test.
  assert.ok(value(/skulk_http_requests_total\{route="\/v1\/completions",status="200"\} (\d+)/) >= 33, m);
  assert.ok(value(/skulk_http_requests_total\{route="\/v1\/chat\/completions",status="404"\} (\d+)/) >= 1);
  assert.ok(value(/skulk_http_requests_total\{route="\/instance\/\{id\}",status="404"\} (\d+)/) >= 1, m);
  assert.ok(value(/skulk_http_requests_total\{route="\(unmatched\)",status="404"\} (\d+)/) >= 1, m);
  assert.ok(value(/skulk_http_requests_total\{route="\/healthz",status="200"\} (\d+)/) >= 1, m);
  assert.ok(value(/^skulk_generated_tokens_total (\d+)/m) > 0);
  assert.ok(value(/^skulk_time_to_first_token_seconds_count (\d+)/m) > 0);
  assert.ok(value(/^skulk_inter_token_seconds_count (\d+)/m) > 0);
  assert.equal(value(/skulk_runners\{phase="Ready"\} (\d+)/), 1);
  assert.equal(value(/^skulk_queue_depth (\d+)/m), 0);
  assert.equal(value(/^skulk_eventlog_counting_only (\d+)/m), 0);
});

test('GET and DELETE /instance/{id}: the runner stops, the model is unplaced', { skip: servingSkip }, async () => {
  const { instance } = await instanceOf(daemon);
  const got = await daemon.get(`/instance/${instance.instanceId}`);
  assert.equal(got.status, 200);
  assert.equal(got.json.modelId, MODEL);
  assert.equal(Object.values(got.json.runners)[0].status.kind, 'Ready');
  assert.equal((await daemon.delete(`/instance/${instance.instanceId}`)).status, 200);
  assert.equal((await daemon.get(`/instance/${instance.instanceId}`)).status, 404);
  assert.equal((await daemon.delete(`/instance/${instance.instanceId}`)).status, 404);
  await assert.rejects(client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 4 }), NotFoundError);
  await waitFor(() => runnerPids(daemon.pid).length === 0, { timeoutMs: 15000, what: 'the runner process to exit' });
});
