// Clear errors (issue 15, defect 7) and the files the API may touch (defect
// 11), on a real skulk-host: raw HTTP where the wire matters (bytes that are
// not UTF-8), the error envelope {"error":{message,type,param,code}} with a
// string code and the field at fault in param, and the process's exit code
// and message for command-line mistakes.
//
//   node --test tests/daemon/api_errors.test.mjs   (SKULK_BUILD_DIR: the build to test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, runSkulk, sourceDir } from '../harness/daemon.mjs';

const bundledModel = join(sourceDir, 'cards', 'models', 'stories260K.gguf');

// Asserts the envelope: status, a message containing `messagePart`, a
// string code, and param (null when not given).
function assertEnvelope(r, status, { messagePart, code, param = null } = {}) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json && r.json.error, `an error envelope: ${r.text}`);
  const e = r.json.error;
  assert.equal(typeof e.message, 'string');
  assert.equal(typeof e.type, 'string');
  assert.equal(typeof e.code, 'string', `code is a string: ${r.text}`);
  if (code) assert.equal(e.code, code, r.text);
  assert.equal(e.param, param, r.text);
  if (messagePart) assert.ok(e.message.includes(messagePart), `"${messagePart}" in: ${e.message}`);
}

// One request over a raw socket, the body as bytes; resolves { status, text, json }.
function rawRequest(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    s.on('data', (b) => chunks.push(b));
    s.on('error', reject);
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const bodyText = text.slice(text.indexOf('\r\n\r\n') + 4);
      let json;
      try { json = JSON.parse(bodyText); } catch { json = undefined; }
      resolve({ status, text: bodyText, json });
    });
    s.once('connect', () => {
      s.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`);
      s.end(body);
    });
  });
}

function card(id, path) {
  return {
    model_id: id, n_layers: 5, hidden_size: 64, num_key_value_heads: 4, context_length: 512, storage_size: 1185344,
    tasks: ['TextGeneration'], source: { path }, placement: { compatible_backends: ['cpu_blas-cpu'] },
  };
}

let d;
let models; // <data-dir>/models: one of the default model folders
before(async () => {
  d = await startDaemon();
  models = join(d.dataDir, 'models');
  mkdirSync(models, { recursive: true });
  copyFileSync(bundledModel, join(models, 'good.gguf'));
});
after(async () => { if (d) await d.stop(); });

test('a body that is not UTF-8 is a 400 with the envelope, on every route', async () => {
  const bad = Buffer.concat([Buffer.from('{"model":"x","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]);
  for (const path of ['/v1/chat/completions', '/models/add', '/place_instance']) {
    const r = await rawRequest(d.apiPort, 'POST', path, bad);
    assertEnvelope(r, 400, { messagePart: 'not valid UTF-8', code: 'invalid_utf8', param: 'body' });
  }
  // An overlong encoding of "/" and a lone surrogate are not UTF-8 either.
  for (const bytes of [[0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
    const r = await rawRequest(d.apiPort, 'POST', '/models/add', Buffer.concat([Buffer.from('{"model_id":"'), Buffer.from(bytes), Buffer.from('"}')]));
    assertEnvelope(r, 400, { code: 'invalid_utf8', param: 'body' });
  }
});

test('an id or path quoting bytes that are not UTF-8 still gets its 404 envelope', async () => {
  const r = await d.get('/v1/models/%FF%FE');
  assertEnvelope(r, 404, { code: 'model_not_found' });
});

test('/models/add refuses model files outside the model folders, naming the rule', async () => {
  const outside = mkdtempSync(join(tmpdir(), 'skulk-outside-'));
  try {
    copyFileSync(bundledModel, join(outside, 'm.gguf'));
    symlinkSync('/etc/passwd', join(models, 'passwd.gguf'));
    for (const path of ['/etc/shadow', join(outside, 'm.gguf'), `${models}/../../../../etc/passwd`, join(models, 'passwd.gguf')]) {
      const r = await d.post('/models/add', card('escape', path));
      assertEnvelope(r, 400, { messagePart: 'model files may come only from', code: 'model_path_not_allowed', param: 'source.path' });
      assert.ok(r.json.error.message.includes(models), `the allowed folders are named: ${r.json.error.message}`);
    }
    assert.ok(!d.stderr.includes('root:'), 'nothing of the refused files reached the log');
    assert.equal((await d.get('/v1/models/escape')).status, 404, 'nothing was added');
  } finally {
    rmSync(outside, { recursive: true, force: true });
    unlinkSync(join(models, 'passwd.gguf'));
  }
});

test('/models/add says when the model file is missing or not a GGUF', async () => {
  const missing = await d.post('/models/add', card('missing-file', join(models, 'nope.gguf')));
  assertEnvelope(missing, 400, { messagePart: 'does not exist', code: 'model_file_invalid', param: 'source.path' });
  writeFileSync(join(models, 'corrupt.gguf'), Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(64, 0xa5)]));
  const corrupt = await d.post('/models/add', card('corrupt-file', join(models, 'corrupt.gguf')));
  assertEnvelope(corrupt, 400, { messagePart: 'not a valid GGUF', code: 'model_file_invalid', param: 'source.path' });
  const good = await d.post('/models/add', card('good-file', join(models, 'good.gguf')));
  assert.equal(good.status, 200, good.text);
});

test('model ids with "..", or more than one "/", are refused with param model_id', async () => {
  for (const id of ['a/../b', '../x', 'x..', 'a/b/c', '/a', 'a/']) {
    const r = await d.post('/models/add', card(id, join(models, 'good.gguf')));
    assertEnvelope(r, 400, { code: 'invalid_model_card', param: 'model_id' });
  }
});

test('/place_instance of a model whose file went missing says so; field errors name the field', async () => {
  copyFileSync(bundledModel, join(models, 'soon-gone.gguf'));
  assert.equal((await d.post('/models/add', card('soon-gone', join(models, 'soon-gone.gguf')))).status, 200);
  unlinkSync(join(models, 'soon-gone.gguf'));
  const r = await d.post('/place_instance', { model_id: 'soon-gone' });
  assertEnvelope(r, 422, { messagePart: 'does not exist', code: 'model_file_invalid', param: 'model_id' });
  assertEnvelope(await d.post('/place_instance', {}), 400, { code: 'invalid_value', param: 'model_id' });
  assertEnvelope(await d.post('/place_instance', { model_id: 'good-file', min_nodes: 0 }), 400, { code: 'invalid_value', param: 'min_nodes' });
  assertEnvelope(await d.post('/models/add', '{"model_id": '), 400, { code: 'invalid_json' });
  assertEnvelope(await d.get('/no/such/route'), 404, { code: 'not_found' });
});

test('skulk-host with a stray word is a usage error (exit 2), not a daemon start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulk-args-'));
  try {
    // The flags keep an old binary that would start a daemon harmless (and the timeout ends it).
    const r = await runSkulk(['--data-dir', dir, '--api-port', '0', '--cluster-port', '0', 'extra-word'], { timeoutMs: 10000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /unexpected argument 'extra-word'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a taken API port is named in the error', async () => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '0.0.0.0', r));
  const port = blocker.address().port;
  const dir = mkdtempSync(join(tmpdir(), 'skulk-port-'));
  try {
    const r = await runSkulk(['--data-dir', dir, '--api-port', String(port), '--cluster-port', '0'], { timeoutMs: 20000, env: { SKULK_BEACONS: '0' } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`port ${port} is already in use`));
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--place of a model whose file is missing or corrupt stops the start with the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulk-place-'));
  try {
    mkdirSync(join(dir, 'custom_cards'));
    mkdirSync(join(dir, 'models'));
    writeFileSync(join(dir, 'models', 'broken.gguf'), 'not a model at all');
    const toml = (id, file) => `model_id = "${id}"\nn_layers = 5\n[source]\npath = "${file}"\n[placement]\ncompatible_backends = ["cpu_blas-cpu"]\n`;
    writeFileSync(join(dir, 'custom_cards', 'broken.toml'), toml('broken', join(dir, 'models', 'broken.gguf')));
    writeFileSync(join(dir, 'custom_cards', 'gone.toml'), toml('gone', join(dir, 'models', 'gone.gguf')));
    for (const [id, why] of [['broken', 'not a valid GGUF'], ['gone', 'does not exist']]) {
      const r = await runSkulk(['--data-dir', dir, '--api-port', '0', '--cluster-port', '0', '--place', id], { timeoutMs: 15000, env: { SKULK_BEACONS: '0' } });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`--place ${id}: model file`) && r.stderr.includes(why), r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
