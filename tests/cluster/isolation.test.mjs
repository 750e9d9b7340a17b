// Namespaces and the cluster secret keep fleets apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSkulk } from '../harness/daemon.mjs';
import { startDaemon, startCluster, uniqueNamespace, waitForAgreement, stopAll, diag, state, endpoint, freePortPair, freePortPairs, startAll, waitFor } from './cluster_helpers.mjs';

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

test('two namespaces on one host never mix, even when they dial each other and beacon', async () => {
  // Beacons on, on a private UDP port: each side hears the other's beacons.
  const beaconPort = String(await freePortPair());
  const env = { SKULK_BEACONS: '1', SKULK_BEACON_PORT: beaconPort };
  const a = await startCluster({ n: 2, ns: uniqueNamespace('a'), env });
  // b dials a's nodes as well as its own.
  const bPorts = await freePortPairs(2);
  const nsB = uniqueNamespace('b');
  const b = await startAll(bPorts.map((p, i) => () => startDaemon({
    env: { ...env, SKULK_NAMESPACE: nsB },
    args: ['--cluster-port', String(p), '--bootstrap-peers',
      [endpoint(bPorts[1 - i]), endpoint(a[0].clusterPort), endpoint(a[1].clusterPort)].join(',')],
  })));
  try {
    const [ma, mb] = await Promise.all([waitForAgreement(a), waitForAgreement(b)]);
    assert.notEqual(ma, mb);
    // Several beacon and hello rounds (2 s / 1 s): still apart.
    await delay(4500);
    const aIds = new Set(a.map((d) => d.nodeId)), bIds = new Set(b.map((d) => d.nodeId));
    for (const [group, own, other] of [[a, aIds, bIds], [b, bIds, aIds]]) {
      for (const d of group) {
        const x = await diag(d);
        assert.ok(x.peers.every((p) => own.has(p.nodeId)), `${d.nodeId} hears only its namespace`);
        const s = await state(d);
        assert.ok(Object.keys(s.nodes).every((n) => !other.has(n)));
        assert.equal(Object.keys(s.nodes).length, 2);
      }
    }
  } finally {
    await stopAll([...a, ...b]);
  }
});

test('with a cluster secret, a node without it (or with another) can neither join nor read', async () => {
  const ns = uniqueNamespace('secret');
  const secured = await startCluster({ n: 2, ns, env: { SKULK_CLUSTER_SECRET: 'correct horse battery staple' } });
  const dial = secured.map((d) => endpoint(d.clusterPort)).join(',');
  const outsiders = await Promise.all([
    startDaemon({ env: { SKULK_NAMESPACE: ns }, args: ['--bootstrap-peers', dial] }),
    startDaemon({ env: { SKULK_NAMESPACE: ns, SKULK_CLUSTER_SECRET: 'wrong' }, args: ['--bootstrap-peers', dial] }),
  ]);
  try {
    const master = await waitForAgreement(secured);
    const placed = await secured[0].post('/place_instance', { model_id: 'secret-model' });
    assert.equal(placed.status, 200, placed.text);
    // Outsiders elect themselves alone: they heard nothing, not even events.
    await waitFor(async () => (await Promise.all(outsiders.map(diag))).every((x) => x.isMaster),
      { timeoutMs: 15000, what: 'each outsider to be alone' });
    await delay(3000);
    for (const o of outsiders) {
      const x = await diag(o);
      assert.equal(x.peers.length, 0, 'an outsider hears no peer');
      const s = await state(o);
      assert.deepEqual(Object.keys(s.instances), [], 'an outsider reads no event');
      assert.notEqual(x.masterNodeId, master);
    }
    for (const d of secured) {
      const x = await diag(d);
      assert.deepEqual(x.peers.map((p) => p.nodeId), [secured.find((e) => e !== d).nodeId]);
    }
  } finally {
    await stopAll([...secured, ...outsiders]);
  }
});

// Discovery without any bootstrap peer: UDP broadcast beacons on the LAN.
// Needs a broadcast-capable interface; a host with only loopback skips.
test('UDP beacons alone form a cluster of one namespace', async (t) => {
  const { networkInterfaces } = await import('node:os');
  const lan = Object.values(networkInterfaces()).flat().some((i) => i && i.family === 'IPv4' && !i.internal);
  if (!lan) return t.skip('no non-loopback IPv4 interface for broadcast');
  const env = { SKULK_BEACONS: '1', SKULK_BEACON_PORT: String(await freePortPair()), SKULK_NAMESPACE: uniqueNamespace('beacon') };
  const ds = await startAll([() => startDaemon({ env }), () => startDaemon({ env })]);
  try {
    await waitForAgreement(ds, { timeoutMs: 15000 });
  } finally {
    await stopAll(ds);
  }
});

test('--require-secret (or SKULK_REQUIRE_CLUSTER_SECRET=1) refuses to start without a secret, exit 2', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'skulk-reqsecret-'));
  try {
    const base = ['--data-dir', dataDir, '--api-port', '0', '--cluster-port', '0'];
    for (const [args, env] of [[['--require-secret'], {}], [[], { SKULK_REQUIRE_CLUSTER_SECRET: '1' }]]) {
      const r = await runSkulk([...base, ...args], { env: { SKULK_CLUSTER_SECRET: '', SKULK_BEACONS: '0', ...env }, timeoutMs: 15000 });
      assert.equal(r.code, 2, `exit 2 (${JSON.stringify(env)}): ${r.stderr}`);
      assert.match(r.stderr, /no cluster secret is set and --require-secret/);
    }
    const bad = await runSkulk(base, { env: { SKULK_REQUIRE_CLUSTER_SECRET: 'maybe' }, timeoutMs: 15000 });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /SKULK_REQUIRE_CLUSTER_SECRET must be 0 or 1, got "maybe"/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  // With a secret it starts, and /state says the ports are guarded.
  const d = await startDaemon({ args: ['--require-secret'], env: { SKULK_NAMESPACE: uniqueNamespace('req'), SKULK_CLUSTER_SECRET: 's3cret' } });
  try {
    const s = await state(d);
    assert.equal(s.security.clusterSecret, true);
    assert.doesNotMatch(d.stderr, /SECURITY: no cluster secret/);
  } finally {
    await d.stop();
  }
});
