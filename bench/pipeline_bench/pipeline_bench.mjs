// Pipeline benchmark: decode tokens/s of one stream and aggregate tokens/s of
// 8 concurrent streams, through the HTTP API of 3 daemons on loopback, with
// the model placed on 1 node, split over 2 ranks and over 3 ranks. Ratios
// are against the 1-node row of the same run (the machine is shared and
// noisy; absolute numbers move, the same-run ratio much less).
//
//   node bench/pipeline_bench/pipeline_bench.mjs [--model FILE] [--layers N] [--tokens 128] [--reps 3]
//   (SKULK_BUILD_DIR: the build to measure; default ./build. Default model:
//   the SmolLM2-135M-shaped Q8_0 that bench/engine_bench synthesizes, made
//   here when missing.)
//
// docs/performance.md ("Pipeline across nodes") records a run.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startDaemon, buildDir, sourceDir, waitFor } from '../../tests/harness/daemon.mjs';
import { freePortPair, uniqueNamespace, endpoint, waitForAgreement, stopAll } from '../../tests/cluster/cluster_helpers.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const shared = process.env.SKULK_SHARED_DIR || resolve(sourceDir, '..', 'shared');
const cache = process.env.SKULK_BENCH_DIR || join(tmpdir(), 'skulk-engine-bench');
const TOKENS = Number(arg('tokens', 128));
const REPS = Number(arg('reps', 3));
let modelFile = arg('model', join(cache, 'smollm2-135m-Q8_0.gguf'));
const LAYERS = Number(arg('layers', 30));
const MODEL = 'pipeline-bench';

if (!existsSync(modelFile)) {
  mkdirSync(cache, { recursive: true });
  const r = spawnSync(join(buildDir, 'bin', 'skulk-gguf'), ['synth', '--arch', 'llama', '--shape', 'smollm2-135m', '--type', 'Q8_0',
    '--vocab-from', join(shared, 'models', 'vocab', 'ggml-vocab-gpt-2.gguf'), '--out', modelFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skulk-gguf synth: ${r.stderr}`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// One streamed completion: decode tok/s after the first text, and tokens.
function oneStream(port) {
  return new Promise((resolvePromise, reject) => {
    const body = JSON.stringify({ model: MODEL, prompt: 'Once upon a time', max_tokens: TOKENS, temperature: 0, stream: true,
      stream_options: { include_usage: true } });
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/completions', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.setEncoding('utf8');
      let buf = '', first = 0, usage = null;
      res.on('data', (chunk) => {
        buf += chunk;
        for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) {
          const line = buf.slice(0, nl);
          if (!line.startsWith('data: {')) continue;
          const c = JSON.parse(line.slice(6));
          if (!first && c.choices?.[0]?.text) first = performance.now();
          if (c.usage) usage = c.usage;
        }
      });
      res.on('end', () => {
        const n = usage ? usage.completion_tokens : 0;
        resolvePromise({ tps: n > 1 ? (n - 1) / ((performance.now() - first) / 1000) : 0, tokens: n });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function aggregate(port, streams) {
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: streams }, () => oneStream(port)));
  return rs.reduce((a, r) => a + r.tokens, 0) / ((performance.now() - t0) / 1000);
}

const cards = mkdtempSync(join(tmpdir(), 'skulk-pipe-bench-'));
writeFileSync(join(cards, 'bench.toml'), `model_id = "${MODEL}"\nn_layers = ${LAYERS}\nhidden_size = 576\nnum_key_value_heads = 3\n` +
  `context_length = 2048\nstorage_size = 145484960\ntasks = ["TextGeneration"]\n[placement]\ncompatible_backends = ["cpu_blas-cpu"]\n` +
  `[source]\npath = "${modelFile}"\n`);
const ns = uniqueNamespace('pipebench');
const ports = [await freePortPair(), await freePortPair(), await freePortPair()];
const ds = await Promise.all(ports.map((port, i) => startDaemon({
  args: ['--cluster-port', String(port), '--cards-dir', cards,
    '--bootstrap-peers', ports.filter((_, j) => j !== i).map(endpoint).join(',')],
  env: { SKULK_NAMESPACE: ns, SKULK_BEACONS: '0' },
})));
try {
  await waitForAgreement(ds);
  await waitFor(async () => Object.keys((await ds[0].get('/state')).json.nodeMemory).length === 3, { what: 'telemetry' });
  console.log(`model ${modelFile} (${LAYERS} layers), ${TOKENS} tokens per stream, median of ${REPS}; ${spawnSync('nproc').stdout}`.trim());
  console.log('\n| placement | decode tok/s (1 stream) | vs 1 node | aggregate tok/s (8 streams) | vs 1 node |\n|---|---|---|---|---|');
  let base;
  for (const nodes of [1, 2, 3]) {
    const r = await ds[0].post('/place_instance', { model_id: MODEL, min_nodes: nodes }, { timeoutMs: 30000 });
    if (r.status !== 200) throw new Error(r.text);
    const id = r.json.instance_id;
    const inst = await waitFor(async () => {
      const s = (await ds[0].get('/state')).json;
      const runners = Object.values(s.runners).filter((x) => x.instanceId === id);
      return s.instances[id] && runners.length === s.instances[id].shards.length && runners.every((x) => x.status.kind === 'Ready') ? s.instances[id] : null;
    }, { timeoutMs: 120000, what: 'Ready' });
    const rank0 = ds.find((d) => d.nodeId === inst.shards.find((s) => s.rank === 0).nodeId);
    await oneStream(rank0.apiPort); // warm-up
    const single = [], agg = [];
    for (let i = 0; i < REPS; ++i) {
      single.push((await oneStream(rank0.apiPort)).tps);
      agg.push(await aggregate(rank0.apiPort, 8));
    }
    const row = { tps: median(single), agg: median(agg) };
    base ??= row;
    const split = inst.shards.map((s) => s.lastLayer - s.firstLayer + 1).join('+');
    console.log(`| ${nodes} node${nodes > 1 ? `s (${split} layers)` : ''} | ${row.tps.toFixed(1)} | ${(row.tps / base.tps).toFixed(2)}x | ${row.agg.toFixed(1)} | ${(row.agg / base.agg).toFixed(2)}x |`);
    const del = await ds[0].request('DELETE', `/instance/${id}`);
    if (del.status !== 200) throw new Error(del.text);
    await waitFor(async () => !(await ds[0].get('/state')).json.instances[id], { what: 'deleted' });
  }
} finally {
  await stopAll(ds);
}
