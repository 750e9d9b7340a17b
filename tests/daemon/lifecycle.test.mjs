// skulk-host as a process: flags, the two built-in endpoints, the error
// envelope, clean shutdown on SIGINT/SIGTERM (also with open connections),
// runtime.json, and surviving broken plugins at startup.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, mkdtempSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { startDaemon, runSkulk, sourceDir, buildDir } from '../harness/daemon.mjs';

// An empty plugin dir keeps these tests independent of whichever plugins
// happen to be built into bin/plugins.
const emptyPluginDir = mkdtempSync(join(tmpdir(), 'skulk-noplugins-'));
after(() => rmSync(emptyPluginDir, { recursive: true, force: true }));
const noPlugins = () => ['--plugin-dir', emptyPluginDir];
const fixtures = join(buildDir, 'fixtures', 'plugins');

test('--version prints the project version', async () => {
  // Derived from CMakeLists.txt, not from the binary.
  const version = /project\(skulk_host VERSION ([0-9.]+)/.exec(readFileSync(join(sourceDir, 'CMakeLists.txt'), 'utf8'))[1];
  const r = await runSkulk(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), `skulk-host ${version}`);
});

test('--help lists the flags and exits 0', async () => {
  const r = await runSkulk(['--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--api-port', '--no-api', '--data-dir', '--plugin-dir', '--cluster-port', '--force-master', '-v'])
    assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
});

test('a bad flag exits 2 naming the flag', async () => {
  const r = await runSkulk(['--no-such-flag']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--no-such-flag/);
  const p = await runSkulk(['--api-port', '70000']);
  assert.equal(p.code, 2);
  assert.match(p.stderr, /--api-port must be 0\.\.65535, got 70000/);
});

test('serves /healthz and /node_id; runtime.json names the bound port; node id is per start', async () => {
  const d = await startDaemon({ args: noPlugins() });
  try {
    const runtime = JSON.parse(readFileSync(join(d.dataDir, 'runtime.json'), 'utf8'));
    assert.equal(runtime.pid, d.pid);
    assert.ok(Number.isInteger(runtime.apiPort) && runtime.apiPort > 0);
    const h = await d.get('/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { status: 'ok' });
    const id = await d.get('/node_id');
    assert.equal(id.status, 200);
    assert.equal(typeof id.json, 'string');
    assert.equal(id.json, runtime.nodeId);
  } finally {
    await d.stop();
  }
  const again = await startDaemon({ args: noPlugins() });
  try {
    assert.notEqual((await again.get('/node_id')).json, d.nodeId);
  } finally {
    await again.stop();
  }
});

test('unknown path is 404 and wrong method 405, both in the error envelope', async () => {
  const d = await startDaemon({ args: noPlugins() });
  try {
    const nf = await d.get('/no/such/route');
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error.type, 'not_found_error');
    assert.match(nf.json.error.message, /\/no\/such\/route/);
    const na = await d.post('/healthz', {});
    assert.equal(na.status, 405);
    assert.equal(na.json.error.type, 'invalid_request_error');
    assert.match(na.json.error.message, /POST/);
  } finally {
    await d.stop();
  }
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`${signal} stops it cleanly within 2 s with open connections`, async () => {
    const d = await startDaemon({ args: noPlugins() });
    // 1: a keep-alive connection that has served a request and sits idle.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: d.apiPort, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
    // 2: a client that connected and sent half a request.
    const half = net.connect(d.apiPort, '127.0.0.1');
    half.on('error', () => {});
    await new Promise((resolve) => half.on('connect', resolve));
    half.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    // 3: a client that connected and said nothing.
    const silent = net.connect(d.apiPort, '127.0.0.1');
    silent.on('error', () => {});
    await new Promise((resolve) => silent.on('connect', resolve));

    const runtimePath = join(d.dataDir, 'runtime.json');
    const r = await d.stop({ signal, keepDataDir: true });
    agent.destroy();
    half.destroy();
    silent.destroy();
    try {
      assert.equal(r.timedOut, false);
      assert.equal(r.code, 0, `exit code (stderr: ${d.stderr})`);
      assert.ok(r.elapsedMs < 2000, `stopped in ${r.elapsedMs.toFixed(0)} ms`);
      assert.match(d.stderr, new RegExp(`received ${signal}, shutting down`));
      assert.equal(existsSync(runtimePath), false, 'runtime.json removed on a clean stop');
    } finally {
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  });
}

test('kill -9 leaves runtime.json behind and the next start replaces it', async () => {
  const d = await startDaemon({ args: noPlugins() });
  const dataDir = d.dataDir;
  const r = await d.kill9();
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(existsSync(join(dataDir, 'runtime.json')));
  const again = await startDaemon({ args: noPlugins(), dataDir });
  try {
    assert.equal(again.readRuntime().pid, again.pid);
    assert.equal((await again.get('/healthz')).status, 200);
  } finally {
    await again.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('broken plugins are logged with their reason and the daemon keeps serving', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulk-plugins-'));
  for (const f of ['libfixture_crash_score.so', 'libfixture_crash_negotiate.so', 'libfixture_throws.so',
    'libfixture_wrong_major.so', 'libfixture_good.so'])
    symlinkSync(join(fixtures, f), join(dir, f));
  const d = await startDaemon({ args: ['--plugin-dir', dir] });
  try {
    assert.equal((await d.get('/healthz')).status, 200);
    assert.match(d.stderr, /libfixture_crash_score\.so refused: crashed in score \(signal 11/);
    assert.match(d.stderr, /libfixture_crash_negotiate\.so refused: crashed in negotiate \(signal 6/);
    assert.match(d.stderr, /libfixture_throws\.so refused: .*threw a C\+\+ exception/);
    assert.match(d.stderr, /libfixture_wrong_major\.so refused: implements ABI major 2/);
    assert.match(d.stderr, /plugin fixture_good 1\.2\.3 \(compute, ABI 1\.1, score 5, tags \[fixture-cpu\]\)/);
  } finally {
    const r = await d.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(r.code, 0);
    // The loaded plugin is shut down once, on the way out.
    assert.equal(d.stderr.match(/\[plugin:fixture_good\] shutdown: 0 live/g)?.length, 1);
  }
});

test('an API port already in use fails the start with exit 1 and names the port', async () => {
  const first = await startDaemon({ args: noPlugins() });
  const dataDir = mkdtempSync(join(tmpdir(), 'skulk-second-'));
  try {
    // A free cluster port: only the API port may clash (the default 52416 can be
    // taken by any process on the machine, e.g. a runner's ephemeral socket).
    const r = await runSkulk(['--data-dir', dataDir, '--api-port', String(first.apiPort), '--cluster-port', '0', ...noPlugins()]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot serve the HTTP API on [^ ]*:${first.apiPort}: port ${first.apiPort} is already in use`));
    assert.equal(existsSync(join(dataDir, 'runtime.json')), false);
    assert.equal((await first.get('/healthz')).status, 200, 'the first daemon is unaffected');
  } finally {
    await first.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('--no-api runs without an HTTP listener; runtime.json has no apiPort', async () => {
  const d = await startDaemon({ args: [...noPlugins(), '--no-api'] });
  try {
    assert.equal(d.runtime.pid, d.pid);
    assert.equal('apiPort' in d.runtime, false);
    assert.match(d.stderr, /starting, node id/);
    assert.doesNotMatch(d.stderr, /API listening/);
  } finally {
    const r = await d.stop();
    assert.equal(r.code, 0);
  }
});
