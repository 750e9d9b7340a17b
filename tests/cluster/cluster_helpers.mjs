// Helpers for multi-daemon cluster tests: free port pairs, starting N
// daemons in one namespace, and polling every node's view with a deadline.
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { startDaemon as startHarnessDaemon, waitFor } from '../harness/daemon.mjs';

export { waitFor };

// These tests place placeholder models no runner could load; the worker
// would give such instances up at once. SKULK_TEST_NO_STATE_LISTENERS keeps
// the worker out, so what is tested is the cluster core alone.
export function startDaemon(opts = {}) {
  return startHarnessDaemon({ ...opts, env: { SKULK_TEST_NO_STATE_LISTENERS: '1', ...(opts.env || {}) } });
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

// A cluster port P with P + 1 also free (a node binds both, see node.hpp).
// Picked below the kernel's ephemeral range (ip_local_port_range, 32768 and
// up by default): a port handed out for "any port" (--api-port 0, another
// test's --cluster-port 0, an outgoing connection) could otherwise take P + 1
// between this check and the daemon's bind.
export async function freePortPair() {
  for (let i = 0; i < 200; ++i) {
    const p = 20000 + 2 * Math.floor(Math.random() * 6000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error('no free port pair between 20000 and 32000');
}

export const uniqueNamespace = (tag) => `test-${tag}-${randomUUID().slice(0, 8)}`;

export const endpoint = (port) => `tcp://127.0.0.1:${port}`;

// `n` port pairs, none overlapping another.
export async function freePortPairs(n) {
  const ports = [];
  while (ports.length < n) {
    const p = await freePortPair();
    if (!ports.some((q) => Math.abs(q - p) < 2)) ports.push(p);
  }
  return ports;
}

// Runs every start (a function returning startDaemon's promise) at once. If
// one fails, the daemons that did start are stopped before its error is
// thrown: one left running would keep the test process alive until ctest's
// timeout.
export async function startAll(starts) {
  const started = await Promise.allSettled(starts.map((start) => start()));
  const failed = started.find((r) => r.status === 'rejected');
  if (!failed) return started.map((r) => r.value);
  await stopAll(started.filter((r) => r.status === 'fulfilled').map((r) => r.value));
  throw failed.reason;
}

// Starts n daemons at the same instant, each on its own port pair; each one
// gets every other port as a bootstrap peer (or the `bootstrap` list when given).
export async function startCluster({ n, ns, env = {}, args = [], bootstrap } = {}) {
  const ports = await freePortPairs(n);
  return startAll(ports.map((port, i) => () => {
    const peers = bootstrap ?? ports.filter((_, j) => j !== i).map(endpoint);
    const a = ['--cluster-port', String(port), ...args];
    if (peers.length) a.push('--bootstrap-peers', peers.join(','));
    return startDaemon({ args: a, env: { SKULK_NAMESPACE: ns, ...env } });
  }));
}

export async function diag(d) { return (await d.get('/v1/diagnostics/node', { timeoutMs: 5000 })).json; }
export async function state(d) { return (await d.get('/state', { timeoutMs: 5000 })).json; }

// Waits until every daemon names the same master, exactly one of them is it,
// and every /state lists exactly `expectNodes` members. Returns the master id.
export async function waitForAgreement(daemons, { timeoutMs = 20000, expectNodes = daemons.length } = {}) {
  let master;
  let seen = []; // per daemon, what it last said, for the timeout message
  await waitFor(async () => {
    const ds = await Promise.all(daemons.map(diag));
    const ss = await Promise.all(daemons.map(state));
    seen = daemons.map((d, i) => ({
      node: d.nodeId, master: ds[i].masterNodeId, isMaster: ds[i].isMaster,
      members: Object.keys(ss[i].nodes).length, stateMaster: ss[i].masterNodeId,
      alivePeers: (ds[i].peers || []).filter((p) => p.alive).map((p) => p.nodeId),
    }));
    const masters = new Set(ds.map((x) => x.masterNodeId));
    if (masters.size !== 1 || ds[0].masterNodeId === null) return false;
    if (ds.filter((x) => x.isMaster).length !== 1) return false;
    if (!ss.every((s) => Object.keys(s.nodes).length === expectNodes && s.masterNodeId === ds[0].masterNodeId)) return false;
    master = ds[0].masterNodeId;
    return true;
  }, {
    timeoutMs, intervalMs: 50, what: `${daemons.length} daemons to agree on one master and ${expectNodes} members`,
    describe: () => seen.map((x) => JSON.stringify(x)).join('\n')
      + '\n' + daemons.map((d) => `--- ${d.nodeId} stderr (tail) ---\n${d.stderr.split('\n').slice(-25).join('\n')}`).join('\n'),
  });
  return master;
}

export async function stopAll(daemons) {
  await Promise.all(daemons.filter(Boolean).map((d) => d.stop()));
}
