// The daemon's logs (issue 17): JSON lines on stdout with every field when
// SKULK_LOGGING_ENABLED=1 (human stderr either way), the durable skulk.log
// with one zstd archive per earlier run and rotation at a (small) limit, the
// in-process shipper with a stand-in `vector` (it gets the lines; a stalled
// one never blocks the daemon and its dropped lines are counted in
// /metrics; one that exits is restarted; none on PATH is said once), and
// runners' lines tagged with runner and instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startDaemon, waitFor, buildDir } from '../harness/daemon.mjs';
import { tempDir, writeExecutable, loggingDir } from './helpers.mjs';

const FIELDS = ['ts', 'level', 'node_id', 'component', 'module', 'function', 'line', 'msg'];
const runnerBuilt = existsSync(join(buildDir, 'bin', 'skulk-runner'));
const MODEL = 'stories260k';

function jsonLines(text) {
  return text.split('\n').filter((l) => l.length).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      throw new Error(`not a JSON line: ${l}`);
    }
  });
}

function assertFields(records) {
  for (const r of records) {
    for (const f of FIELDS) assert.ok(f in r, `field ${f} in ${JSON.stringify(r)}`);
    assert.match(r.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'RFC 3339 UTC');
    assert.match(r.level, /^(TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL)$/);
  }
}

function unzstd(file) {
  const r = spawnSync('zstd', ['-dc', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `zstd -dc ${file}: ${r.stderr}`);
  return r.stdout;
}

// A bin dir whose `vector` is this shell script (prepended to PATH).
function standInVector(dir, script) {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeExecutable(join(bin, 'vector'), `#!/bin/sh\n${script}\n`);
  return `${bin}:${process.env.PATH}`;
}

async function metricValue(d, reason) {
  const text = (await d.get('/metrics')).text;
  const m = text.match(new RegExp(`^skulk_log_dropped_lines_total\\{reason="${reason}"\\} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : null;
}

test('SKULK_LOGGING_ENABLED=1: every stdout line is one JSON object with the fields; stderr stays human', async () => {
  const dir = tempDir();
  try {
    const d = await startDaemon({ env: { SKULK_LOGGING_ENABLED: '1', SKULK_LOG_DIR: join(dir, 'logs') } });
    const nodeId = d.nodeId;
    await d.stop();
    const records = jsonLines(d.stdout);
    assert.ok(records.length >= 3, `some JSON lines:\n${d.stdout}`);
    assertFields(records);
    const starting = records.find((r) => /starting, node id/.test(r.msg));
    assert.ok(starting, 'the start line is there');
    assert.equal(starting.node_id, nodeId, 'node_id is the daemon\'s node id');
    assert.equal(starting.component, 'daemon');
    assert.ok(records.some((r) => r.msg === 'stopped'), 'the last line made it out at the stop');
    assert.match(d.stderr, /info\s+\[daemon\] skulk-host .* starting, node id/, 'human lines on stderr');
    assert.doesNotMatch(d.stderr, /^\{"ts"/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without SKULK_LOGGING_ENABLED, stdout has no JSON (the human stderr is the default)', async () => {
  const dir = tempDir();
  try {
    const d = await startDaemon({ env: { SKULK_LOG_DIR: join(dir, 'logs') } });
    await d.stop();
    assert.equal(d.stdout, '');
    assert.match(d.stderr, /starting, node id/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('three starts leave skulk.log and two .zst archives that decompress to the earlier runs', async () => {
  const dir = tempDir();
  const logs = join(dir, 'logs');
  try {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const d = await startDaemon({ env: { SKULK_LOG_DIR: logs } });
      ids.push(d.nodeId);
      await d.stop();
    }
    assert.deepEqual(readdirSync(logs).filter((f) => !f.startsWith('.')).sort(), ['skulk.log', 'skulk.log.1.zst', 'skulk.log.2.zst']);
    const runs = [unzstd(join(logs, 'skulk.log.1.zst')), unzstd(join(logs, 'skulk.log.2.zst')), readFileSync(join(logs, 'skulk.log'), 'utf8')];
    runs.forEach((text, i) => {
      assert.match(text, new RegExp(`starting, node id ${ids[i]}`), `run ${i + 1} is in its file`);
      ids.forEach((other, j) => { if (j !== i) assert.ok(!text.includes(other), `run ${j + 1} is not in run ${i + 1}'s file`); });
      assert.match(text, /\[daemon\] stopped$/m, `run ${i + 1} ended cleanly in its file`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('skulk.log rotates at SKULK_LOG_ROTATE_BYTES and keeps SKULK_LOG_KEEP_ARCHIVES archives', { skip: !runnerBuilt && 'skulk-runner is not built' }, async () => {
  const dir = tempDir();
  const logs = join(dir, 'logs');
  const limit = 1024;
  try {
    // A served model and a few streams make several KiB of lines (the daemon and its runner).
    const d = await startDaemon({ args: ['-vv', '--place', MODEL], env: { SKULK_LOG_DIR: logs, SKULK_LOG_ROTATE_BYTES: String(limit), SKULK_LOG_KEEP_ARCHIVES: '2' } });
    try {
      await waitServing(d);
      for (let i = 0; i < 3; i++) assert.match(await streamOnce(d), /data: \[DONE\]/);
    } finally {
      await d.stop({ timeoutMs: 20000 });
    }
    const files = readdirSync(logs).filter((f) => !f.startsWith('.'));
    const archives = files.filter((f) => /^skulk\.log\.\d+\.zst$/.test(f)).sort((a, b) => parseInt(a.slice(10)) - parseInt(b.slice(10)));
    assert.ok(files.every((f) => f === 'skulk.log' || /^skulk\.log\.\d+\.zst$/.test(f)), `only the log and archives: ${files}`);
    assert.equal(archives.length, 2, `SKULK_LOG_KEEP_ARCHIVES bounds the archives: ${files}`);
    assert.ok(parseInt(archives[0].slice(10)) >= 2, `older archives were removed: ${files}`);
    // Each file is whole lines and at most the limit (or a single longer line).
    const texts = [...archives.map((a) => unzstd(join(logs, a))), readFileSync(join(logs, 'skulk.log'), 'utf8')];
    for (const t of texts) {
      assert.ok(t.endsWith('\n'), 'a rotation never cuts a line');
      const lines = t.split('\n').filter(Boolean);
      assert.ok(Buffer.byteLength(t) <= limit || lines.length === 1, `a file of ${Buffer.byteLength(t)} bytes, ${lines.length} lines`);
    }
    assert.match(texts.at(-1), /\[daemon\] stopped$/m, 'the live file has the newest lines');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SKULK_LOGGING_EXTERNAL=0: the daemon runs `vector --config vector.yaml` and pipes it the JSON lines', async () => {
  const dir = tempDir();
  try {
    const path = standInVector(dir, `echo "$@" > '${dir}/args'\nenv | grep -E '^SKULK_(LOGGING_INGEST_URL|VECTOR_DATA_DIR)=' > '${dir}/env'\nexec cat >> '${dir}/shipped'`);
    const d = await startDaemon({ env: {
      PATH: path, SKULK_LOGGING_ENABLED: '1', SKULK_LOGGING_EXTERNAL: '0', SKULK_LOG_DIR: join(dir, 'logs'),
      SKULK_LOGGING_INGEST_URL: 'http://central:9428/insert/jsonline?x=1', SKULK_VECTOR_DATA_DIR: join(dir, 'vector'),
    } });
    const nodeId = d.nodeId;
    await waitFor(() => existsSync(join(dir, 'shipped')) && readFileSync(join(dir, 'shipped'), 'utf8').includes(nodeId),
      { what: 'the start line shipped to the stand-in vector' });
    await d.stop();
    assert.equal(readFileSync(join(dir, 'args'), 'utf8').trim(), `--config ${join(loggingDir, 'vector.yaml')}`);
    const env = readFileSync(join(dir, 'env'), 'utf8');
    assert.match(env, /^SKULK_LOGGING_INGEST_URL=http:\/\/central:9428\/insert\/jsonline\?x=1$/m);
    assert.match(env, new RegExp(`^SKULK_VECTOR_DATA_DIR=${join(dir, 'vector')}$`, 'm'));
    const shipped = jsonLines(readFileSync(join(dir, 'shipped'), 'utf8'));
    assertFields(shipped);
    assert.ok(shipped.some((r) => r.msg === 'stopped'), 'the last lines are shipped before the daemon exits');
    assert.equal(d.stdout, '', 'in-process mode: no JSON on stdout');
    assert.match(d.stderr, /log shipper .*vector started/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a shipper that exits is restarted with backoff; the daemon is unaffected', async () => {
  const dir = tempDir();
  try {
    const path = standInVector(dir, `echo start >> '${dir}/starts'\nexit 1`);
    const d = await startDaemon({ env: { PATH: path, SKULK_LOGGING_ENABLED: '1', SKULK_LOGGING_EXTERNAL: '0', SKULK_LOG_DIR: join(dir, 'logs') } });
    await waitFor(() => existsSync(join(dir, 'starts')) && readFileSync(join(dir, 'starts'), 'utf8').split('\n').length > 2,
      { timeoutMs: 15000, what: 'the stand-in vector started twice' });
    assert.equal((await d.get('/healthz')).status, 200);
    await d.stop();
    assert.match(d.stderr, /log shipper exited \(exit code 1\); restarting in 1000 ms/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SKULK_LOGGING_EXTERNAL=0 without `vector` on PATH says so once and goes on', async () => {
  const dir = tempDir();
  try {
    const d = await startDaemon({ env: { PATH: '/usr/bin:/bin', SKULK_LOGGING_ENABLED: '1', SKULK_LOGGING_EXTERNAL: '0', SKULK_LOG_DIR: join(dir, 'logs') } });
    assert.equal((await d.get('/healthz')).status, 200);
    await d.stop();
    assert.equal(d.stderr.split('`vector` is not on PATH').length - 1, 1, d.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad logging setting exits 2 naming the variable', async () => {
  const { runSkulk } = await import('../harness/daemon.mjs');
  const r = await runSkulk(['--api-port', '0'], { env: { SKULK_LOG_ROTATE_BYTES: '12abc' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /SKULK_LOG_ROTATE_BYTES must be a byte count of at least 1024, got "12abc"/);
});

// Streams one chat completion; returns the raw SSE text.
async function streamOnce(d) {
  const res = await d.fetch('/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 24, stream: true }),
    signal: AbortSignal.timeout(60000),
  });
  assert.equal(res.status, 200);
  return res.text();
}

async function waitServing(d) {
  await waitFor(async () => {
    const s = (await d.get('/state')).json;
    return Object.values(s.runners || {}).some((r) => r.status?.kind === 'Ready');
  }, { timeoutMs: 60000, what: `${MODEL} Ready` });
}

test('a stalled shipper never blocks the daemon: a stream completes and the dropped lines are counted in /metrics', { skip: !runnerBuilt && 'skulk-runner is not built' }, async () => {
  const dir = tempDir();
  try {
    const path = standInVector(dir, 'exec sleep 600'); // never reads its stdin
    const d = await startDaemon({ args: ['-vv', '--place', MODEL], env: {
      PATH: path, SKULK_LOGGING_ENABLED: '1', SKULK_LOGGING_EXTERNAL: '0', SKULK_LOG_SHIPPER_PIPE_BYTES: '4096', SKULK_LOG_DIR: join(dir, 'logs'),
    } });
    try {
      await waitServing(d);
      const text = await streamOnce(d);
      assert.match(text, /data: \[DONE\]/, 'the stream completed');
      const dropped = await metricValue(d, 'shipper');
      assert.ok(dropped > 0, `dropped lines are counted: ${dropped}`);
      assert.notEqual(await metricValue(d, 'queue_full'), null, 'the queue counter is exposed too');
    } finally {
      const r = await d.stop({ timeoutMs: 20000 });
      assert.equal(r.timedOut, false, 'the stop does not wait on the stalled shipper');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("runners' lines reach the daemon's JSON log and skulk.log, tagged with runner and instance", { skip: !runnerBuilt && 'skulk-runner is not built' }, async () => {
  const dir = tempDir();
  const logs = join(dir, 'logs');
  try {
    const d = await startDaemon({ args: ['--place', MODEL], env: { SKULK_LOGGING_ENABLED: '1', SKULK_LOG_DIR: logs } });
    let instanceId;
    try {
      await waitServing(d);
      instanceId = Object.values((await d.get('/state')).json.instances)[0].instanceId;
      await waitFor(() => jsonLines(d.stdout).some((r) => r.runner_id && /serving/.test(r.msg)), { what: "the runner's serving line on stdout" });
    } finally {
      await d.stop({ timeoutMs: 20000 });
    }
    const line = jsonLines(d.stdout).find((r) => r.runner_id && /serving/.test(r.msg));
    assert.equal(line.instance_id, instanceId);
    assert.equal(line.runner_id, `runner-${instanceId}-r0`);
    assert.equal(line.node_id, d.nodeId, "the daemon's node id");
    assertFields([line]);
    assert.match(readFileSync(join(logs, 'skulk.log'), 'utf8'), new RegExp(`\\[runner-${instanceId}-r0\\] instance ${instanceId} serving`));
    assert.equal(d.stderr.split(`instance ${instanceId} serving`).length - 1, 1, 'stderr has the runner\'s own line once, not twice');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
