// logprobs through a real skulk-host + skulk-runner and the official `openai`
// SDK: chat `logprobs`/`top_logprobs` and legacy completions `logprobs: N`,
// whole and streamed, in OpenAI's shapes; raw HTTP for the stream chunk and
// the 400s that name the field.
//
//   node --test tests/clients/logprobs.test.mjs   (SKULK_BUILD_DIR: the build to test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MODEL, startServingClient, stopServing, servingSkip, readSse, importOpenAI } from './serving_helpers.mjs';

const { default: OpenAI, BadRequestError } = await importOpenAI();

let daemon;
let client;

before(async () => {
  if (servingSkip) return;
  ({ daemon, client } = await startServingClient(OpenAI));
});

after(() => stopServing(daemon));

const messages = [{ role: 'user', content: 'Tell me a story about a cat.' }];
const utf8 = (s) => [...Buffer.from(s, 'utf8')];

// One chat logprobs entry as the SDK types it (ChatCompletionTokenLogprob).
function checkChatEntry(e, nTop) {
  assert.equal(typeof e.token, 'string');
  assert.ok(Number.isFinite(e.logprob) && e.logprob <= 0, `logprob ${e.logprob}`);
  assert.ok(Array.isArray(e.bytes) && e.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
  assert.equal(e.top_logprobs.length, nTop);
  let p = 0;
  for (const t of e.top_logprobs) {
    assert.equal(typeof t.token, 'string');
    assert.ok(Array.isArray(t.bytes));
    p += Math.exp(t.logprob);
  }
  assert.ok(p <= 1 + 1e-4, `top probabilities sum to ${p}`);
  for (let i = 1; i < e.top_logprobs.length; ++i) assert.ok(e.top_logprobs[i - 1].logprob >= e.top_logprobs[i].logprob, 'best first');
}

test('chat logprobs: the greedy token is the top-1, probabilities sum <= 1, stream equals whole', { skip: servingSkip }, async () => {
  const whole = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 5 });
  const content = whole.choices[0].logprobs.content;
  assert.ok(Array.isArray(content) && content.length > 0, JSON.stringify(whole.choices[0].logprobs));
  assert.equal(whole.choices[0].logprobs.refusal, null);
  assert.ok(content.length <= whole.usage.completion_tokens);
  for (const e of content) {
    checkChatEntry(e, 5);
    assert.equal(e.top_logprobs[0].token, e.token, 'temperature 0 picks the most likely token');
    assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6);
  }
  // Token bytes put together are the answer's bytes.
  assert.deepEqual(content.flatMap((e) => e.bytes), utf8(whole.choices[0].message.content));

  const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 5, stream: true });
  const streamed = [];
  for await (const chunk of stream)
    for (const c of chunk.choices) if (c.logprobs?.content) streamed.push(...c.logprobs.content);
  assert.deepEqual(streamed.map((e) => e.token), content.map((e) => e.token));
  assert.deepEqual(streamed.map((e) => e.logprob), content.map((e) => e.logprob));

  const none = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, temperature: 0 });
  assert.equal(none.choices[0].logprobs, null, 'not asked: null');
  const zero = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, temperature: 0, logprobs: true });
  for (const e of zero.choices[0].logprobs.content) checkChatEntry(e, 0);
});

test('completions logprobs: N are the legacy columns', { skip: servingSkip }, async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 12, temperature: 0, logprobs: 3 });
  const lp = r.choices[0].logprobs;
  const n = lp.tokens.length;
  assert.ok(n > 0);
  assert.equal(lp.token_logprobs.length, n);
  assert.equal(lp.top_logprobs.length, n);
  assert.equal(lp.text_offset.length, n);
  assert.equal(lp.tokens.join(''), r.choices[0].text);
  for (let i = 0; i < n; ++i) {
    const top = Object.entries(lp.top_logprobs[i]).sort((a, b) => b[1] - a[1]);
    assert.ok(top.length >= 1 && top.length <= 3);
    assert.equal(top[0][0], lp.tokens[i], 'greedy: the chosen token is the most likely');
    assert.ok(top.reduce((p, [, l]) => p + Math.exp(l), 0) <= 1 + 1e-4);
    if (i) assert.equal(lp.text_offset[i], lp.text_offset[i - 1] + [...lp.tokens[i - 1]].length);
  }
});

test('raw stream chunks carry logprobs in the chunk shape', { skip: servingSkip }, async () => {
  const res = await daemon.fetch('/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages, max_tokens: 6, temperature: 0, stream: true, logprobs: true, top_logprobs: 2 }),
  });
  assert.equal(res.status, 200);
  const chunks = (await readSse(res)).filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
  const withLp = chunks.filter((c) => c.choices[0]?.logprobs);
  assert.ok(withLp.length > 0);
  for (const c of withLp) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.deepEqual(Object.keys(c.choices[0]).sort(), ['delta', 'finish_reason', 'index', 'logprobs']);
    assert.deepEqual(Object.keys(c.choices[0].logprobs).sort(), ['content', 'refusal']);
    for (const e of c.choices[0].logprobs.content) checkChatEntry(e, 2);
  }
});

test('bad logprobs values are 400s that name the field', { skip: servingSkip }, async () => {
  const cases = [
    [{ model: MODEL, messages, logprobs: true, top_logprobs: 21 }, '/v1/chat/completions', 'top_logprobs'],
    [{ model: MODEL, messages, top_logprobs: 2 }, '/v1/chat/completions', 'top_logprobs'],
    [{ model: MODEL, prompt: 'x', logprobs: 6 }, '/v1/completions', 'logprobs'],
  ];
  for (const [body, path, field] of cases) {
    const r = await daemon.post(path, body);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error.message, new RegExp(field));
  }
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages, logprobs: true, top_logprobs: 30 }),
    (e) => e instanceof BadRequestError);
});
