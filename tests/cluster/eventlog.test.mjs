// The daemon's durable event log: replay across restarts and the
// counting-only mode when the disk is (simulated) full.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, uniqueNamespace, diag, state, waitFor } from './cluster_helpers.mjs';
import { existsSync, statSync, mkdtempSync, mkdirSync, symlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

test('below the free-space floor the log goes counting-only with one CRITICAL line and the node keeps serving', async () => {
  const d = await startDaemon({ env: { SKULK_NAMESPACE: uniqueNamespace('full'), SKULK_EVENTLOG_MIN_FREE_BYTES: '1000000000000000000' } });
  try {
    await waitFor(async () => (await diag(d)).isMaster, { what: 'a lone master' });
    for (let i = 0; i < 3; ++i) {
      const r = await d.post('/place_instance', { model_id: `m${i}` });
      assert.equal(r.status, 200, r.text);
    }
    const x = await diag(d);
    assert.equal(x.eventLog.mode, 'counting-only');
    assert.ok(x.eventLog.appended >= 5, 'events are still counted');
    assert.equal(Object.keys((await state(d)).instances).length, 3, 'state still advances');
    assert.equal((d.stderr.match(/counting-only/g) || []).length, 1, d.stderr);
    assert.match(d.stderr, /critical/i);
    assert.ok(!existsSync(join(d.dataDir, 'eventlog', 'events.bin')), 'nothing was written');
  } finally {
    await d.stop();
  }
});

test('a restarted lone node replays its log and carries its instances into the new session', async () => {
  const ns = uniqueNamespace('replay');
  const first = await startDaemon({ env: { SKULK_NAMESPACE: ns } });
  const dataDir = first.dataDir;
  let second;
  try {
    await waitFor(async () => (await diag(first)).isMaster, { what: 'a lone master' });
    const r = await first.post('/place_instance', { model_id: 'persisted' });
    assert.equal(r.status, 200, r.text);
    await first.stop({ keepDataDir: true });
    assert.ok(statSync(join(dataDir, 'eventlog', 'events.bin')).size > 8);
    second = await startDaemon({ dataDir, env: { SKULK_NAMESPACE: ns } });
    await waitFor(async () => (await state(second)).instances[r.json.instance_id]?.modelId === 'persisted',
      { what: 'the instance back after restart' });
    assert.match(second.stderr, /event log replayed: \d+ record/);
  } finally {
    await second?.stop();
  }
});

test('a real ENOSPC (the log file is /dev/full) goes counting-only and the node keeps serving', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'skulk-enospc-'));
  mkdirSync(join(dataDir, 'eventlog'));
  symlinkSync('/dev/full', join(dataDir, 'eventlog', 'events.bin'));
  const d = await startDaemon({ dataDir, env: { SKULK_NAMESPACE: uniqueNamespace('enospc'), SKULK_EVENTLOG_MIN_FREE_BYTES: '0' } });
  try {
    await waitFor(async () => (await diag(d)).isMaster, { what: 'a lone master' });
    const r = await d.post('/place_instance', { model_id: 'still-serving' });
    assert.equal(r.status, 200, r.text);
    assert.equal((await diag(d)).eventLog.mode, 'counting-only');
    assert.equal((d.stderr.match(/counting-only/g) || []).length, 1, d.stderr);
    assert.match(d.stderr, /No space left on device/);
    assert.equal((await d.get('/healthz')).status, 200);
  } finally {
    await d.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
