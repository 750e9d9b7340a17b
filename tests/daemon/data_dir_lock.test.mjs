// One data dir, one daemon: the first holds an flock on <data-dir>/skulk.lock;
// a second on the same dir exits 2 naming the holder's pid and touches
// nothing (the first's runtime.json and event log stay as they were).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, runSkulk, waitFor } from '../harness/daemon.mjs';

const env = { SKULK_BEACONS: '0' };
const sizeOf = (p) => (existsSync(p) ? statSync(p).size : -1);
const argsFor = (dataDir) => ['--data-dir', dataDir, '--api-port', '0', '--cluster-port', '0'];

test('a second daemon on the same data dir exits 2 naming the holder, and leaves its files alone', async () => {
  const first = await startDaemon({ env });
  const dataDir = first.dataDir;
  try {
    await waitFor(async () => (await first.get('/v1/diagnostics/node')).json?.isMaster, { what: 'a lone master' });
    const events = join(dataDir, 'eventlog', 'events.bin');
    const runtimeBefore = readFileSync(join(dataDir, 'runtime.json'), 'utf8');
    const eventsBefore = sizeOf(events);

    // Without the lock the second one would run: the timeout fails the test then.
    const second = await runSkulk(argsFor(dataDir), { env, timeoutMs: 15000 });
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`data dir ${dataDir} is in use by pid ${first.pid}\\b`));
    assert.equal(readFileSync(join(dataDir, 'skulk.lock'), 'utf8').trim(), String(first.pid));

    assert.equal(readFileSync(join(dataDir, 'runtime.json'), 'utf8'), runtimeBefore, "the first daemon's runtime.json");
    assert.equal(sizeOf(events), eventsBefore, 'the event log was not appended to');
    assert.equal((await first.get('/healthz')).status, 200);
  } finally {
    await first.stop({ keepDataDir: true });
  }
  // The kernel drops the lock with its holder, even on SIGKILL: the file left behind never blocks a restart.
  const again = await startDaemon({ dataDir, env });
  await again.kill9();
  assert.ok(existsSync(join(dataDir, 'skulk.lock')));
  const third = await startDaemon({ dataDir, env });
  try {
    assert.equal(readFileSync(join(dataDir, 'skulk.lock'), 'utf8').trim(), String(third.pid));
  } finally {
    const r = await third.stop();
    rmSync(dataDir, { recursive: true, force: true });
    assert.equal(r.code, 0, third.stderr);
  }
});
