// Bind addresses: two daemons told to listen on 127.0.0.2 and 127.0.0.3
// (--api-bind, --cluster-bind) have every TCP listener there, their runners'
// pipeline hub and request sockets included, and still form a cluster that
// serves a model placed over both. The second node only knows the first
// (one-sided bootstrap): the first must learn where the second listens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, waitFor, buildDir, sourceDir } from '../harness/daemon.mjs';
import { freePortPairs, startAll, uniqueNamespace, waitForAgreement, stopAll, state } from '../cluster/cluster_helpers.mjs';

const runnerBuilt = existsSync(join(buildDir, 'bin', 'skulk-runner'));
const modelFile = join(sourceDir, 'cards', 'models', 'stories260K.gguf');
const skip = !runnerBuilt ? 'skulk-runner is not built' : !existsSync(modelFile) ? `${modelFile} is missing` : false;
const MODEL = 'stories260k-bind';

// pid and every process below it (the runners).
function processTree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch { /* gone meanwhile */ }
  }
  const out = [];
  for (const todo = [pid]; todo.length;) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(children.get(p) || []));
  }
  return out;
}

// "0200007F" (little-endian hex of /proc/net/tcp) -> "127.0.0.2".
const ipv4 = (hex) => [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');

// Every listening TCP socket of the process tree: [{ pid, address, port }].
function listeners(pid) {
  const rows = new Map(); // inode -> local address of a LISTEN socket
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      const [addr, port] = f[1].split(':');
      rows.set(f[9], { address: addr.length === 8 ? ipv4(addr) : `ipv6:${addr}`, port: parseInt(port, 16) });
    }
  }
  const out = [];
  for (const p of processTree(pid)) {
    let fds = [];
    try { fds = readdirSync(`/proc/${p}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target = '';
      try { target = readlinkSync(`/proc/${p}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && rows.has(m[1])) out.push({ pid: p, ...rows.get(m[1]) });
    }
  }
  return out;
}

test('every listener binds the configured address and the cluster still serves', { skip }, async (t) => {
  const cards = mkdtempSync(join(tmpdir(), 'skulk-bind-cards-'));
  writeFileSync(join(cards, 'stories.toml'),
    `model_id = "${MODEL}"\nn_layers = 5\nhidden_size = 64\nnum_key_value_heads = 4\ncontext_length = 512\n` +
    `storage_size = 1185344\ntasks = ["TextGeneration"]\n[placement]\ncompatible_backends = ["cpu_blas-cpu"]\n` +
    `[source]\npath = "${modelFile}"\n`);
  const ns = uniqueNamespace('bind');
  const [p1, p2] = await freePortPairs(2);
  const hosts = ['127.0.0.2', '127.0.0.3'];
  const node = (host, port, peers) => () => startDaemon({
    apiHost: host,
    args: ['--api-bind', host, '--cluster-bind', host, '--cluster-port', String(port), '--cards-dir', cards, ...peers],
    env: { SKULK_NAMESPACE: ns },
  });
  const ds = await startAll([node(hosts[0], p1, []), node(hosts[1], p2, ['--bootstrap-peers', `tcp://${hosts[0]}:${p1}`])]);
  t.after(() => stopAll(ds));
  await waitForAgreement(ds);
  await waitFor(async () => {
    const s = await state(ds[0]);
    return ds.every((d) => s.nodeMemory[d.nodeId]);
  }, { what: 'telemetry of both nodes' });

  // Over both nodes: rank 0 binds a pipeline hub and a request socket.
  const r = await ds[0].post('/place_instance', { model_id: MODEL, min_nodes: 2 }, { timeoutMs: 30000 });
  assert.equal(r.status, 200, r.text);
  const id = r.json.instance_id;
  await waitFor(async () => {
    const s = await state(ds[0]);
    const runners = Object.values(s.runners).filter((x) => x.instanceId === id);
    if (runners.some((x) => x.status.kind === 'Failed')) throw new Error(`a runner failed: ${JSON.stringify(runners)}`);
    return runners.length === 2 && runners.every((x) => x.status.kind === 'Ready');
  }, { timeoutMs: 60000, intervalMs: 50, what: `${MODEL} over 2 nodes Ready` });

  // Served through the node that does not hold rank 0 as well as the one that does.
  for (const d of ds) {
    const c = await d.post('/v1/completions', { model: MODEL, prompt: 'Once upon a time', max_tokens: 4 }, { timeoutMs: 30000 });
    assert.equal(c.status, 200, c.text);
  }

  let runnerListeners = 0;
  for (const [i, d] of ds.entries()) {
    const ls = listeners(d.pid);
    runnerListeners += ls.filter((l) => l.pid !== d.pid).length;
    assert.ok(ls.filter((l) => l.pid === d.pid).length >= 3, `API + 2 cluster ports: ${JSON.stringify(ls)}`);
    for (const l of ls) assert.equal(l.address, hosts[i], `pid ${l.pid} listens on ${l.address}:${l.port}`);
  }
  // Rank 0's pipeline hub and request socket.
  assert.ok(runnerListeners >= 2, `runner listeners found: ${runnerListeners}`);
});
