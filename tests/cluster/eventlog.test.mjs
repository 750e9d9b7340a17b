// The daemon's durable event log: replay across restarts, recovery from a
// damaged record in the middle, and the counting-only mode when the disk is
// (simulated) full.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, startCluster, stopAll, waitForAgreement, endpoint, uniqueNamespace, diag, state, waitFor } from './cluster_helpers.mjs';
import { runSkulk } from '../harness/daemon.mjs';
import { existsSync, statSync, mkdtempSync, mkdirSync, symlinkSync, rmSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
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

// The records of an events.bin: [u32 LE length][u32 LE CRC-32][payload] after the 8-byte header.
function records(bytes) {
  const out = [];
  for (let off = 8; off + 8 <= bytes.length;) {
    const len = bytes.readUInt32LE(off);
    out.push({ off, len, json: JSON.parse(bytes.subarray(off + 8, off + 8 + len).toString('utf8')) });
    off += 8 + len;
  }
  return out;
}

// Flips one byte in the middle of the payload of the InstanceCreated record
// of `instanceId`; returns the damaged bytes and that record's event.
function damageCreation(logPath, instanceId) {
  const bytes = readFileSync(logPath);
  const rec = records(bytes).find((r) => r.json.event.type === 'InstanceCreated' && JSON.stringify(r.json).includes(instanceId));
  assert.ok(rec, `the InstanceCreated record of ${instanceId} in ${logPath}`);
  bytes[rec.off + 8 + Math.floor(rec.len / 2)] ^= 0xff;
  writeFileSync(logPath, bytes);
  return { bytes, event: rec.json };
}

const asides = (dir) => readdirSync(dir).filter((f) => f.startsWith('events.bin.damaged-'));

test('a damaged record in the middle: alone, the node refuses naming the file and the gap; with the override it keeps every intact record', async () => {
  const ns = uniqueNamespace('damaged');
  const env = { SKULK_NAMESPACE: ns, SKULK_EVENTLOG_MIN_FREE_BYTES: '0' };
  const first = await startDaemon({ env });
  const dataDir = first.dataDir;
  const logDir = join(dataDir, 'eventlog');
  const logPath = join(logDir, 'events.bin');
  let second;
  try {
    await waitFor(async () => (await diag(first)).isMaster, { what: 'a lone master' });
    const ids = [];
    for (const m of ['before', 'damaged', 'after']) {
      const r = await first.post('/place_instance', { model_id: m });
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.instance_id);
    }
    await first.stop({ keepDataDir: true });
    const { bytes, event } = damageCreation(logPath, ids[1]);

    // Alone, with later events depending on the lost one: no start (the old node started, dropping them all).
    const refused = await runSkulk(['--data-dir', dataDir, '--api-port', '0', '--cluster-port', '0'],
      { env: { SKULK_BEACONS: '0', SKULK_TEST_NO_STATE_LISTENERS: '1', ...env }, timeoutMs: 15000 });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`event log ${logPath} is damaged at bytes \\d+\\.\\.\\d+`));
    assert.match(refused.stderr, new RegExp(`the events term ${event.term} idx ${event.idx}\\.\\.${event.idx} are missing`));
    assert.match(refused.stderr, /SKULK_EVENTLOG_ACCEPT_GAP=1/);
    assert.ok(readFileSync(logPath).equals(bytes), 'a refusal changes nothing on disk');
    assert.deepEqual(asides(logDir), []);

    second = await startDaemon({ dataDir, env: { ...env, SKULK_EVENTLOG_ACCEPT_GAP: '1' } });
    await waitFor(async () => {
      const s = await state(second);
      return s.instances[ids[0]]?.modelId === 'before' && s.instances[ids[2]]?.modelId === 'after';
    }, { what: 'the intact records before and after the damage carried over' });
    assert.equal((await state(second)).instances[ids[1]], undefined, 'the damaged record is not replayed');
    const kept = asides(logDir);
    assert.equal(kept.length, 1);
    assert.ok(readFileSync(join(logDir, kept[0])).equals(bytes), 'the damaged original is kept byte for byte');
    assert.match(second.stderr, new RegExp(`the damaged original is kept as ${join(logDir, kept[0])}`));
  } finally {
    await second?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a damaged record in the middle of a follower\'s log: with peers it starts and the master\'s snapshot fills the gap', async () => {
  const ns = uniqueNamespace('damaged-peers');
  const env = { SKULK_EVENTLOG_MIN_FREE_BYTES: '0' };
  const ds = await startCluster({ n: 2, ns, env });
  let restarted;
  try {
    const master = await waitForAgreement(ds);
    const [leader, follower] = ds[0].nodeId === master ? ds : [ds[1], ds[0]];
    const ids = [];
    // On the master: a follower that stops takes its own instances with it.
    for (const m of ['one', 'two', 'three']) {
      const r = await leader.post('/place_instance', { model_id: m, node_ids: [leader.nodeId] });
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.instance_id);
    }
    await waitFor(async () => {
      const s = await state(follower);
      return ids.every((id) => s.instances[id]);
    }, { what: 'the follower to apply every placement' });
    await follower.stop({ keepDataDir: true });
    const logDir = join(follower.dataDir, 'eventlog');
    const { bytes } = damageCreation(join(logDir, 'events.bin'), ids[1]);

    restarted = await startDaemon({
      dataDir: follower.dataDir,
      env: { SKULK_NAMESPACE: ns, ...env },
      args: ['--cluster-port', String(follower.clusterPort), '--bootstrap-peers', endpoint(leader.clusterPort)],
    });
    let seen;
    await waitFor(async () => {
      const s = seen = await state(restarted);
      return s.masterNodeId === master && ids.every((id) => s.instances[id]);
    }, {
      what: 'every instance, the damaged one included, from the master\'s snapshot',
      describe: () => `${JSON.stringify({ master, ids, seen })}\n${restarted.stderr}`,
    });
    assert.match(restarted.stderr, /the master's snapshot replaces this node's view/);
    const kept = asides(logDir);
    assert.equal(kept.length, 1);
    assert.ok(readFileSync(join(logDir, kept[0])).equals(bytes));
  } finally {
    await stopAll([...ds, restarted]);
    rmSync(ds[0].dataDir, { recursive: true, force: true });
    rmSync(ds[1].dataDir, { recursive: true, force: true });
  }
});
