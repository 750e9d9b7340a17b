// API serving benchmark: time to first token and decode tokens/s through the
// HTTP API (daemon -> runner -> adapter -> SSE) against skulk-generate on the
// same model (no daemon, no HTTP: the host's overhead per token), and the
// aggregate tokens/s of 1, 8, 32 and 64 concurrent streams.
//
//   node bench/api_bench/api_bench.mjs [--model-id stories260k] [--tokens 128] [--reps 3]
//   (SKULK_BUILD_DIR: the build to measure; default ./build)
//
// Prints one table; docs/performance.md ("Serving through the API") records a run.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { startDaemon, buildDir, sourceDir, waitFor } from '../../tests/harness/daemon.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const MODEL = arg('model-id', 'stories260k');
const TOKENS = Number(arg('tokens', 256));
const REPS = Number(arg('reps', 5));
const PROMPT = 'Once upon a time';
const modelFile = join(sourceDir, 'cards', 'models', 'stories260K.gguf');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// skulk-generate's own decode speed for the same prompt and length (ignore-eos: exactly TOKENS).
function generateSpeed() {
  const tps = [];
  for (let i = 0; i < REPS; i++) {
    const r = spawnSync(join(buildDir, 'bin', 'skulk-generate'), ['--model', modelFile, '--prompt', PROMPT, '-n', String(TOKENS),
      '--greedy', '--ignore-eos', '--json', '--plugin-dir', join(buildDir, 'bin', 'plugins')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    const j = JSON.parse(r.stdout);
    tps.push(j.decode_tokens_per_s);
  }
  return median(tps);
}

// One streamed completion over its own connection (node:http, no pooled
// keep-alive socket the server may close under us): TTFT (ms), decode tok/s
// after the first read that carried text, tokens.
function oneStream(base, maxTokens) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const body = JSON.stringify({ model: MODEL, prompt: PROMPT, max_tokens: maxTokens, temperature: 0, stream: true,
      stream_options: { include_usage: true } });
    const req = http.request(`${base}/v1/completions`, { method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
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
  const d = await startDaemon({ args: ['--place', MODEL] });
  try {
    await waitFor(async () => {
      const s = (await d.get('/state')).json;
      return Object.values(s.runners).some((r) => r.status.kind === 'Ready');
    }, { timeoutMs: 60000, what: 'runner Ready' });
    await oneStream(d.baseUrl, 8); // warm-up
    const singles = [];
    for (let i = 0; i < REPS; i++) singles.push(await oneStream(d.baseUrl, TOKENS));
    const gen = generateSpeed();
    const api = median(singles.map((s) => s.tps));
    console.log(`model ${MODEL}, ${TOKENS} tokens, median of ${REPS}`);
    console.log(`TTFT through the API: ${median(singles.map((s) => s.ttft)).toFixed(1)} ms`);
    console.log(`decode tok/s: API ${api.toFixed(1)}, skulk-generate ${gen.toFixed(1)}, ratio ${(api / gen).toFixed(3)}`);
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
  }
}

let finished = false;
process.on('beforeExit', () => {
  if (!finished) { console.error('api_bench: the event loop emptied with work pending'); process.exitCode = 1; }
});
await main();
finished = true;
