// Placement on a full disk does not lie. A node whose data dir is full (a
// real 2 MiB tmpfs, filled up) is left out before the answer: with no other
// node, POST /place_instance answers 507 with the reason. A runner file that
// still cannot be written after the 200 (a read-only mount) leaves the
// instance in /state with its runner Failed and the reason, not gone.
// Needs root (mount); skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { startDaemon, waitFor } from '../harness/daemon.mjs';

const skip = process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : false;
const MiB = 1 << 20;
const env = () => ({ SKULK_NAMESPACE: `test-full-disk-${randomUUID().slice(0, 8)}` });
const state = async (d) => (await d.get('/state', { timeoutMs: 5000 })).json;
const lonelyMaster = (d) => waitFor(async () => (await d.get('/v1/diagnostics/node')).json?.isMaster, { what: 'a lone master' });

// Writes zeros into `file` until the file system says ENOSPC.
function fill(file) {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

test('a full data dir: POST /place_instance answers 507 naming the node, nothing is placed; with room again it places', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulk-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
  try {
    const d = await startDaemon({ dataDir: dir, env: env() });
    try {
      await lonelyMaster(d);
      fill(join(dir, 'filler'));
      const disk = async () => (await state(d)).nodeDisk?.[d.nodeId]?.available;
      await waitFor(async () => (await disk()) < MiB, { what: 'telemetry showing the full data dir' });
      const r = await d.post('/place_instance', { model_id: 'stories260k' });
      assert.equal(r.status, 507, r.text);
      assert.equal(r.json.error.code, 'data_dir_full');
      assert.equal(r.json.error.type, 'insufficient_storage');
      assert.match(r.json.error.message, new RegExp(`node ${d.nodeId}'s data dir has \\d+ bytes free, below the ${MiB} a runner needs`));
      assert.deepEqual((await state(d)).instances, {});

      rmSync(join(dir, 'filler'));
      await waitFor(async () => (await disk()) >= MiB, { what: 'telemetry showing room again' });
      const ok = await d.post('/place_instance', { model_id: 'stories260k' });
      assert.equal(ok.status, 200, ok.text);
    } finally {
      await d.stop({ keepDataDir: true });
    }
  } finally {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a runner file that cannot be written after the 200 shows in /state: runner Failed with the reason, instance kept', { skip }, async () => {
  const d = await startDaemon({ env: env() });
  const runners = join(d.dataDir, 'runners');
  mkdirSync(runners);
  // Read-only even for root: the worker's writes there fail with EROFS.
  execFileSync('mount', ['--bind', runners, runners]);
  try {
    execFileSync('mount', ['-o', 'remount,bind,ro', runners]);
    await lonelyMaster(d);
    const r = await d.post('/place_instance', { model_id: 'stories260k' });
    assert.equal(r.status, 200, r.text);
    const id = r.json.instance_id;
    const failed = await waitFor(async () => {
      const s = await state(d);
      const runner = Object.values(s.runners).find((x) => x.instanceId === id);
      return runner?.status.kind === 'Failed' ? { s, runner } : null;
    }, { what: 'the runner Failed in /state' });
    assert.match(failed.runner.status.errorMessage, new RegExp(`cannot write ${runners}.*: Read-only file system`));
    assert.equal(failed.s.instances[id]?.modelId, 'stories260k', 'the instance is kept, not silently dropped');
    assert.match(d.stderr, /the instance stays, its runner Failed/);
  } finally {
    execFileSync('umount', [runners]);
    await d.stop();
  }
});
