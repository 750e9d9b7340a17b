// API keys and CORS of a real skulk-host: keys made with `skulk-host api-key
// add`, checked with raw HTTP (status, WWW-Authenticate, the error envelope,
// CORS headers) and with the official openai SDK passing apiKey.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync, statSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startDaemon, runSkulk, waitFor, sourceDir } from '../harness/daemon.mjs';

// One HTTP/1.1 exchange on a fresh socket, read to the end (Connection: close):
// { status, headers (lower-cased names, repeated ones joined), body, json }.
function raw(port, method, path, headers = {}, body = '') {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let data = '';
    sock.setTimeout(10000, () => sock.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    sock.on('error', reject);
    sock.on('data', (b) => (data += b));
    sock.on('end', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const h = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        const name = l.slice(0, i).trim().toLowerCase(), value = l.slice(i + 1).trim();
        h[name] = h[name] ? `${h[name]}, ${value}` : value;
      }
      const text = rest.join('\r\n\r\n');
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: h, body: text, json });
    });
    const all = { host: '127.0.0.1', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...headers };
    sock.end(`${method} ${path} HTTP/1.1\r\n` + Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n' + body);
  });
}

async function addKey(file, scope, label) {
  const r = await runSkulk(['api-key', 'add', '--scope', scope, '--file', file, ...(label ? ['--label', label] : [])]);
  assert.equal(r.code, 0, r.stderr);
  const key = r.stdout.trim();
  assert.match(key, /^skulk_[A-Za-z0-9_-]{43}$/);
  return key;
}

async function importOpenAI() {
  const require = createRequire(join(sourceDir, 'tests', 'clients', 'package.json'));
  return (await import(pathToFileURL(require.resolve('openai')).href)).default;
}

const ALLOWED = 'https://chat.example.com';

test('API keys: 401 without or with a wrong key, 403 for an inference key on admin routes; CORS allow-list', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skulk-auth-'));
  const file = join(dir, 'api_keys');
  const admin = await addKey(file, 'admin', 'ops');
  const inference = await addKey(file, 'inference', 'open-webui');
  const stored = readFileSync(file, 'utf8');
  assert.ok(!stored.includes(admin) && !stored.includes(inference), 'keys are never stored in clear');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.match(stored, /^admin blake2b256:[0-9a-f]{64} ops\ninference blake2b256:[0-9a-f]{64} open-webui\n$/);

  const d = await startDaemon({ env: { SKULK_API_KEYS: file, SKULK_CORS_ORIGINS: `${ALLOWED}, http://localhost:3000` } });
  t.after(async () => { await d.stop(); rmSync(dir, { recursive: true, force: true }); });
  const port = d.apiPort;

  await t.test('/healthz stays open', async () => {
    assert.equal((await raw(port, 'GET', '/healthz')).status, 200);
  });

  await t.test('a missing key: 401, WWW-Authenticate, the envelope', async () => {
    for (const [m, p] of [['GET', '/v1/models'], ['POST', '/v1/chat/completions'], ['GET', '/state'], ['GET', '/no/such/route']]) {
      const r = await raw(port, m, p);
      assert.equal(r.status, 401, `${m} ${p}: ${r.body}`);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="skulk"');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(r.json.error.type, 'authentication_error');
      assert.equal(r.json.error.code, 'invalid_api_key');
      assert.equal(r.json.error.param, null);
      assert.match(r.json.error.message, /Authorization: Bearer/);
    }
  });

  await t.test('a wrong key: 401 with error="invalid_token"', async () => {
    for (const h of [{ authorization: `Bearer ${admin}x` }, { 'x-api-key': 'skulk_wrong' }, { authorization: `Basic ${admin}` }]) {
      const r = await raw(port, 'GET', '/v1/models', h);
      assert.equal(r.status, 401, JSON.stringify(h));
      assert.equal(r.json.error.code, 'invalid_api_key');
    }
    const r = await raw(port, 'GET', '/v1/models', { authorization: 'Bearer nope' });
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="skulk", error="invalid_token"');
    assert.equal(r.json.error.message, 'Incorrect API key provided.');
  });

  await t.test('an inference key: inference routes yes, admin routes 403', async () => {
    for (const h of [{ authorization: `Bearer ${inference}` }, { 'x-api-key': inference }]) {
      assert.equal((await raw(port, 'GET', '/v1/models', h)).status, 200);
      const chat = await raw(port, 'POST', '/v1/chat/completions', { ...h, 'content-type': 'application/json' },
        JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }));
      assert.equal(chat.status, 404, chat.body); // past the key check: the model is unknown
      for (const [m, p] of [['GET', '/state'], ['GET', '/v1/diagnostics/node'], ['POST', '/models/add'], ['POST', '/place_instance'], ['GET', '/metrics']]) {
        const r = await raw(port, m, p, h);
        assert.equal(r.status, 403, `${m} ${p}: ${r.body}`);
        assert.equal(r.json.error.type, 'permission_error');
        assert.equal(r.json.error.code, 'insufficient_scope');
      }
    }
  });

  await t.test('an admin key: everything', async () => {
    const h = { authorization: `Bearer ${admin}` };
    assert.equal((await raw(port, 'GET', '/state', h)).status, 200);
    assert.equal((await raw(port, 'GET', '/v1/models', h)).status, 200);
    assert.equal((await raw(port, 'GET', '/no/such/route', h)).status, 404);
  });

  await t.test('a number beyond double in a body is a 400, not a 500', async () => {
    const h = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
    for (const [p, body] of [['/v1/chat/completions', '{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1e400}'],
      ['/place_instance', '{"model_id":"m","min_nodes":1e400}'], ['/models/add', '{"model_id":1e400}']]) {
      const r = await raw(port, 'POST', p, h, body);
      assert.equal(r.status, 400, `${p}: ${r.body}`);
    }
  });

  await t.test('the openai SDK with apiKey', async () => {
    const OpenAI = await importOpenAI();
    const good = new OpenAI({ apiKey: inference, baseURL: `${d.baseUrl}/v1`, maxRetries: 0 });
    const models = await good.models.list();
    assert.ok(Array.isArray(models.data));
    await assert.rejects(good.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e instanceof OpenAI.NotFoundError);
    const bad = new OpenAI({ apiKey: 'skulk_not-a-key', baseURL: `${d.baseUrl}/v1`, maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401
      && e.error?.code === 'invalid_api_key');
    await assert.rejects(bad.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e instanceof OpenAI.AuthenticationError);
  });

  await t.test('CORS: an allowed origin is echoed, others get no Access-Control-Allow-Origin', async () => {
    const h = { authorization: `Bearer ${inference}` };
    const ok = await raw(port, 'GET', '/v1/models', { ...h, origin: ALLOWED });
    assert.equal(ok.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(ok.headers.vary, 'Origin');
    const denied401 = await raw(port, 'GET', '/v1/models', { origin: ALLOWED }); // a browser can read the 401
    assert.equal(denied401.headers['access-control-allow-origin'], ALLOWED);
    const other = await raw(port, 'GET', '/v1/models', { ...h, origin: 'https://evil.example.org' });
    assert.equal(other.status, 200);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  await t.test('CORS preflight: answered without a key, for allowed origins only', async () => {
    const pre = await raw(port, 'OPTIONS', '/v1/chat/completions', {
      origin: 'http://localhost:3000', 'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://localhost:3000');
    assert.equal(pre.headers['access-control-allow-headers'], 'authorization, content-type');
    assert.match(pre.headers['access-control-allow-methods'], /POST/);
    const other = await raw(port, 'OPTIONS', '/v1/chat/completions', { origin: 'https://evil.example.org', 'access-control-request-method': 'POST' });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.equal(other.headers['access-control-allow-headers'], undefined);
  });

  await t.test('a key added while the daemon runs works without a restart', async () => {
    const later = await addKey(file, 'admin');
    await waitFor(async () => (await raw(port, 'GET', '/state', { 'x-api-key': later })).status === 200,
      { timeoutMs: 10000, what: 'the new key accepted' });
  });
});

test('without SKULK_CORS_ORIGINS no answer carries Access-Control-Allow-Origin, and no key is asked', async (t) => {
  const d = await startDaemon();
  t.after(() => d.stop());
  for (const [m, p] of [['GET', '/healthz'], ['GET', '/v1/models'], ['GET', '/no/such'], ['OPTIONS', '/v1/models']]) {
    const r = await raw(d.apiPort, m, p, { origin: ALLOWED, 'access-control-request-method': 'GET' });
    assert.equal(r.headers['access-control-allow-origin'], undefined, `${m} ${p}`);
  }
  assert.equal((await raw(d.apiPort, 'GET', '/state')).status, 200);
});

test('a key file that does not parse stops the start-up with the file and line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulk-auth-bad-'));
  const file = join(dir, 'keys');
  writeFileSync(file, '# keys\nadmin skulk_cleartextkeycleartextkey\n');
  const r = await runSkulk(['--data-dir', dir, '--api-port', '0', '--cluster-port', '0'],
    { env: { SKULK_API_KEYS: file, SKULK_BEACONS: '0' } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${file}:2: the key is not hashed`));
  const missing = await runSkulk(['--data-dir', dir, '--api-port', '0', '--cluster-port', '0'],
    { env: { SKULK_API_KEYS: join(dir, 'nope'), SKULK_BEACONS: '0' } });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope: cannot read the API key file/);
  rmSync(dir, { recursive: true, force: true });
});

test('skulk-host api-key: hash prints a line, refuses short keys; add needs a file', async () => {
  const { spawnSync } = await import('node:child_process');
  const bin = join(process.env.SKULK_BUILD_DIR || join(sourceDir, 'build'), 'bin', 'skulk-host');
  const key = 'k'.repeat(32);
  const ok = spawnSync(bin, ['api-key', 'hash', '--scope', 'inference', '--label', 'ci'], { input: `${key}\n`, encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^inference blake2b256:[0-9a-f]{64} ci\n$/);
  assert.ok(!ok.stdout.includes(key));
  const short = spawnSync(bin, ['api-key', 'hash', '--scope', 'admin'], { input: 'short\n', encoding: 'utf8' });
  assert.equal(short.status, 2);
  assert.match(short.stderr, /at least 24/);
  const env = { ...process.env };
  delete env.SKULK_API_KEYS;
  const nofile = spawnSync(bin, ['api-key', 'add', '--scope', 'admin'], { env, encoding: 'utf8' });
  assert.equal(nofile.status, 2);
  assert.match(nofile.stderr, /--file FILE or SKULK_API_KEYS/);
  const badScope = spawnSync(bin, ['api-key', 'add', '--scope', 'root', '--file', join(tmpdir(), 'skulk-never-written')], { encoding: 'utf8' });
  assert.equal(badScope.status, 2);
  assert.match(badScope.stderr, /inference or admin/);
});
