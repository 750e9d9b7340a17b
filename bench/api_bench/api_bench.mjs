// API serving benchmark: time to first token and decode tokens/s through the
// HTTP API (daemon -> runner -> adapter -> SSE) against skulk-generate on the
// same model (no daemon, no HTTP: the host's overhead per token), and the
// aggregate tokens/s of 1, 8, 32 and 64 concurrent streams.
//
//   node bench/api_bench/api_bench.mjs [--synth smollm2-135m] [--type Q8_0] [--tokens 256] [--reps 5] [--no-scaling]
//                                      [--client node|native]
//   (SKULK_BUILD_DIR: the build to measure; default ./build)
//
// --client: who reads the streams. node (default): node:http in this
// process, as an SDK would. native: bin/api_stream_client (libcurl, C++),
// one process per stream. On a machine with few cores the client's own CPU
// per token takes cores from the engine; node's http stack costs several
// times what the host spends per token, so `native` is the one that
// measures the host's overhead (docs/performance.md "Serving through the API").
// With `native` each rep also runs the client as SCHED_IDLE (`--sched-idle`):
// it then gets a core only when the engine leaves one free, as if it ran on
// another machine, so that ratio leaves the client's own CPU out and the
// normal-priority one keeps it in. Both are printed, each with a bootstrap
// interval of its median, and the CPU per token of the client (its
// getrusage) and of the daemon (its threads' /proc schedstat run time).
//
// Without --synth: the bundled stories260k, where a token costs ~0.25 ms of
// compute, the order of the per-token costs outside the engine, so the
// API/skulk-generate ratio is noise. With --synth SHAPE: a `skulk-gguf synth`
// model of that shape (random weights, real sizes; cached in
// $SKULK_BENCH_DIR, as bench/engine_bench does), placed through a card in a
// temp cards dir, so per-token compute dominates. API and skulk-generate
// runs are interleaved (one of each per rep, same prompt, same length, all
// on all cores, the order rotating from rep to rep) and the median of the
// per-rep ratios is reported, so a change in machine load hits both sides
// of a ratio alike.
//
// Prints one table; docs/performance.md ("Serving through the API") records a run.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, buildDir, sourceDir, waitFor } from '../../tests/harness/daemon.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SYNTH = arg('synth', '');
const TYPE = arg('type', 'Q8_0');
const MODEL = SYNTH ? `bench-${SYNTH}-${TYPE}`.toLowerCase() : 'stories260k';
const TOKENS = Number(arg('tokens', 256));
const REPS = Number(arg('reps', 5));
const SCALING = !process.argv.includes('--no-scaling');
const CLIENT = arg('client', 'node');
if (!['node', 'native'].includes(CLIENT)) throw new Error('--client: node or native');
const PROMPT = 'Once upon a time';

// Shapes skulk-gguf synth knows (the card needs their sizes; vocab as in bench/engine_bench).
const SHAPES = {
  'smollm2-135m': { arch: 'llama', layers: 30, hidden: 576, kv: 3, vocab: 'ggml-vocab-gpt-2' },
  'qwen2.5-0.5b': { arch: 'qwen2', layers: 24, hidden: 896, kv: 2, vocab: 'ggml-vocab-gpt-2' },
};

// The model file and a cards dir holding only its card (stories260k's is the repo's).
function prepareModel() {
  if (!SYNTH) return { file: join(sourceDir, 'cards', 'models', 'stories260K.gguf'), args: [] };
  const shape = SHAPES[SYNTH];
  if (!shape) throw new Error(`--synth: one of ${Object.keys(SHAPES).join(', ')}`);
  const cache = process.env.SKULK_BENCH_DIR || join(tmpdir(), 'skulk-engine-bench');
  mkdirSync(cache, { recursive: true });
  const file = join(cache, `${SYNTH}-${TYPE}.gguf`);
  if (!existsSync(file)) {
    const shared = process.env.SKULK_SHARED_DIR || join(sourceDir, '..', 'shared');
    const r = spawnSync(join(buildDir, 'bin', 'skulk-gguf'), ['synth', '--arch', shape.arch, '--shape', SYNTH, '--type', TYPE,
      '--vocab-from', join(shared, 'models', 'vocab', `${shape.vocab}.gguf`), '--out', file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`skulk-gguf synth: ${r.stderr}`);
  }
  const cards = mkdtempSync(join(tmpdir(), 'skulk-api-bench-cards-'));
  writeFileSync(join(cards, 'bench.toml'),
    `model_id = "${MODEL}"\nfamily = "llama"\nquantization = "${TYPE}"\nn_layers = ${shape.layers}\nhidden_size = ${shape.hidden}\n` +
    `num_key_value_heads = ${shape.kv}\ncontext_length = 1024\nstorage_size = ${spawnSync('stat', ['-c', '%s', file], { encoding: 'utf8' }).stdout.trim()}\n` +
    `tasks = ["TextGeneration"]\n[source]\npath = "${file}"\n` +
    `[placement]\ncompatible_backends = ["cpu_blas-cpu"]\nbackend_preference = ["cpu_blas-cpu"]\nmax_context_tokens = 1024\n`);
  return { file, args: ['--cards-dir', cards], cleanup: () => rmSync(cards, { recursive: true, force: true }) };
}
const model = prepareModel();
const modelFile = model.file;

const LABEL = { A: '(client competing)', I: '(client SCHED_IDLE)' };

// CPU time (ns) the daemon's threads have run, from /proc/<pid>/task/*/schedstat.
function daemonCpuNs(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch { /* the thread ended meanwhile */ }
  }
  return ns;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// A 95% bootstrap interval of the median (2000 resamples, fixed seed so a
// rerun on the same numbers prints the same interval): how far the median of
// this many noisy reps can be trusted, for judging a target such as "within
// 5 %" (its lower end above 0.95) rather than one median.
function medianInterval(xs) {
  let seed = 0x5eed;
  const rand = () => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const meds = Array.from({ length: 2000 }, () => median(xs.map(() => xs[Math.floor(rand() * xs.length)])))
    .sort((a, b) => a - b);
  return [meds[Math.floor(meds.length * 0.025)], meds[Math.floor(meds.length * 0.975)]];
}

// skulk-generate's own decode speed for the same prompt and length (ignore-eos: exactly TOKENS).
function generateSpeed() {
  const r = spawnSync(join(buildDir, 'bin', 'skulk-generate'), ['--model', modelFile, '--prompt', PROMPT, '-n', String(TOKENS),
    '--greedy', '--ignore-eos', '--json', '--plugin-dir', join(buildDir, 'bin', 'plugins')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout).decode_tokens_per_s;
}

// ignore_eos is not an API field: a synthetic model may stop early, so the
// decode rate uses the tokens it actually produced (usage).
const streamBody = (maxTokens) => JSON.stringify({ model: MODEL, prompt: PROMPT, max_tokens: maxTokens, temperature: 0,
  stream: true, stream_options: { include_usage: true } });

// One streamed completion over its own connection: TTFT (ms), decode tok/s
// after the first read that carried text, tokens (and, native, the client's
// CPU per token). idle: the native client runs as SCHED_IDLE.
const oneStream = (base, maxTokens, idle = false) =>
  (CLIENT === 'native' ? nativeStream(base, maxTokens, idle) : nodeStream(base, maxTokens));

function nativeStream(base, maxTokens, idle) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(join(buildDir, 'bin', 'api_stream_client'),
      [...(idle ? ['--sched-idle'] : []), `${base}/v1/completions`, streamBody(maxTokens)]);
    let out = '', err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`api_stream_client: ${err}`));
      const r = JSON.parse(out);
      resolve({ ttft: r.ttft_ms, tps: r.decode_tokens_per_s, tokens: r.tokens, ms: performance.now() - t0,
        clientCpuUs: r.cpu_us_per_token });
    });
  });
}

// node:http, no pooled keep-alive socket the server may close under us.
function nodeStream(base, maxTokens) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const body = streamBody(maxTokens);
    const req = http.request(`${base}/v1/completions`, { method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      if (res.statusCode !== 200) {
        // e.g. a --tokens past the card's context: say so instead of timing 0 tokens.
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => reject(new Error(`HTTP ${res.statusCode}: ${text}`)));
        return;
      }
      res.setEncoding('utf8');
      // first: when the first text arrived; inFirst: text chunks in that same
      // read (reads coalesce chunks, so the decode rate skips all of them).
      let buf = '', first = 0, inFirst = 0, usage = null;
      res.on('data', (chunk) => {
        const firstRead = !first;
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.startsWith('data: {')) continue;
          const c = JSON.parse(line.slice(6));
          if (c.choices?.[0]?.text) {
            if (!first) first = performance.now();
            if (firstRead) inFirst++;
          }
          if (c.usage) usage = c.usage;
        }
      });
      res.on('end', () => {
        const end = performance.now();
        const n = usage ? usage.completion_tokens : 0;
        resolve({ ttft: first - t0, tps: n > inFirst ? (n - inFirst) / ((end - first) / 1000) : 0, tokens: n, ms: end - t0 });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const d = await startDaemon({ args: ['--place', MODEL, ...model.args] });
  try {
    await waitFor(async () => {
      const s = (await d.get('/state')).json;
      return Object.values(s.runners).some((r) => r.status.kind === 'Ready');
    }, { timeoutMs: 120000, what: 'runner Ready' });
    await oneStream(d.baseUrl, 8); // warm-up
    generateSpeed(); // warm-up: page cache, CPU frequency
    const load0 = loadavg()[0];
    // Per rep: skulk-generate (G), an API stream read by a normal client (A)
    // and, native, one read by a SCHED_IDLE client (I). The order rotates
    // from rep to rep: whichever runs after another pays for what that one
    // left behind (skulk-generate's exit frees hundreds of MB), so a fixed
    // order would bias the ratios.
    const kinds = CLIENT === 'native' ? ['G', 'A', 'I'] : ['G', 'A'];
    const apiKinds = kinds.slice(1);
    const runs = { G: [], A: [], I: [] }, ratios = { A: [], I: [] }, daemonUs = [];
    for (let i = 0; i < REPS; i++) {
      const order = kinds.map((_, j) => kinds[(i + j) % kinds.length]);
      const got = {};
      for (const k of order) {
        if (k === 'G') {
          got.G = generateSpeed();
          continue;
        }
        const cpu0 = daemonCpuNs(d.pid);
        got[k] = await oneStream(d.baseUrl, TOKENS, k === 'I');
        daemonUs.push((daemonCpuNs(d.pid) - cpu0) / 1000 / got[k].tokens);
      }
      runs.G.push(got.G);
      for (const k of apiKinds) {
        runs[k].push(got[k]);
        ratios[k].push(got[k].tps / got.G);
      }
      console.log(`rep ${i + 1} (${order.join(' ')}): skulk-generate ${got.G.toFixed(1)} tok/s; ` +
        apiKinds.map((k) => `API ${LABEL[k]} ${got[k].tps.toFixed(1)} tok/s (${got[k].tokens} tokens), ratio ${(got[k].tps / got.G).toFixed(3)}`).join('; '));
    }
    const load1 = loadavg()[0];
    const singles = [...runs.A, ...runs.I];
    console.log(`model ${MODEL} (${modelFile}), ${CLIENT} client, ${TOKENS} tokens, ${REPS} interleaved reps; load average ${load0.toFixed(2)} -> ${load1.toFixed(2)}`);
    console.log(`TTFT through the API: median ${median(singles.map((s) => s.ttft)).toFixed(1)} ms`);
    console.log(`decode tok/s: skulk-generate median ${median(runs.G).toFixed(1)}, ` +
      apiKinds.map((k) => `API ${LABEL[k]} median ${median(runs[k].map((s) => s.tps)).toFixed(1)}`).join(', '));
    for (const k of apiKinds) {
      const [lo, hi] = medianInterval(ratios[k]);
      console.log(`API ${LABEL[k]} / skulk-generate: median ratio ${median(ratios[k]).toFixed(3)} ` +
        `(95% interval ${lo.toFixed(3)}-${hi.toFixed(3)}; min ${Math.min(...ratios[k]).toFixed(3)}, max ${Math.max(...ratios[k]).toFixed(3)})`);
    }
    console.log(`CPU per token: daemon median ${median(daemonUs).toFixed(1)} us` +
      (CLIENT === 'native' ? `, client median ${median(singles.map((s) => s.clientCpuUs)).toFixed(1)} us` : ''));
    if (!SCALING) return;
    console.log('streams | aggregate tok/s | x one stream | median TTFT ms');
    let base = 0;
    for (const n of [1, 8, 32, 64]) {
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: n }, () => oneStream(d.baseUrl, TOKENS)));
      const secs = (performance.now() - t0) / 1000;
      const agg = rs.reduce((a, r) => a + r.tokens, 0) / secs;
      if (n === 1) base = agg;
      console.log(`${String(n).padStart(7)} | ${agg.toFixed(1).padStart(15)} | ${(agg / base).toFixed(2).padStart(12)} | ${median(rs.map((r) => r.ttft)).toFixed(1)}`);
    }
  } finally {
    await d.stop({ timeoutMs: 20000 });
    model.cleanup?.();
  }
}

let finished = false;
process.on('beforeExit', () => {
  if (!finished) { console.error('api_bench: the event loop emptied with work pending'); process.exitCode = 1; }
});
await main();
finished = true;
