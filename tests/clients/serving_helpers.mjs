// Shared by the serving tests: a daemon serving the bundled model, waiting
// for its runner to be Ready, raw SSE reading, the runner's pid, and the
// openai SDK import.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, waitFor, buildDir, sourceDir } from '../harness/daemon.mjs';

// The openai SDK from tests/clients/node_modules; a missing install fails with how to fix it.
export async function importOpenAI() {
  const here = dirname(fileURLToPath(import.meta.url));
  if (!existsSync(join(here, 'node_modules', 'openai')))
    throw new Error('tests/clients/node_modules is missing: run `npm ci` in tests/clients (deployment/dev.sh deps does it)');
  return import('openai');
}

export const MODEL = 'stories260k';
export const modelFile = join(sourceDir, 'cards', 'models', 'stories260K.gguf');
export const runnerBinary = join(buildDir, 'bin', 'skulk-runner');
export const servingSkip = !existsSync(runnerBinary) && `${runnerBinary} is not built`;

// The instance of `model` in /state and its rank-0 runner status (or null).
export async function instanceOf(daemon, model = MODEL) {
  const s = (await daemon.get('/state')).json;
  const inst = Object.values(s.instances).find((i) => i.modelId === model);
  if (!inst) return null;
  const runner = Object.values(s.runners).find((r) => r.instanceId === inst.instanceId);
  return { instance: inst, runner, state: s };
}

// Polls /state until the model's runner is Ready (deadline, no sleeps).
export async function waitReady(daemon, model = MODEL, timeoutMs = 60000) {
  return waitFor(async () => {
    const x = await instanceOf(daemon, model);
    return x && x.runner && x.runner.status.kind === 'Ready' ? x : null;
  }, { timeoutMs, intervalMs: 50, what: `${model} Ready in /state` });
}

// A daemon with --place stories260k, its model Ready.
export async function startServing({ args = [], env = {} } = {}) {
  const d = await startDaemon({ args: ['--place', MODEL, ...args], env });
  try {
    await waitReady(d);
  } catch (e) {
    await d.stop({ signal: 'SIGKILL' });
    throw new Error(`${e.message}\n--- skulk-host stderr ---\n${d.stderr.slice(-4000)}`);
  }
  return d;
}

// A daemon serving the bundled model and an openai SDK client on it (the
// tests pass their imported OpenAI class: node_modules may be missing).
export async function startServingClient(OpenAI, { timeout = 60000 } = {}) {
  const daemon = await startServing();
  const client = new OpenAI({ baseURL: `${daemon.baseUrl}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout });
  return { daemon, client };
}

// Stops a daemon from startServingClient: it and its runner stop on SIGTERM.
export async function stopServing(daemon) {
  if (!daemon) return;
  const r = await daemon.stop({ timeoutMs: 20000 });
  assert.equal(r.timedOut, false, 'the daemon (and its runner) stop on SIGTERM');
}

// The pids of skulk-runner children of `pid` (from /proc).
export function runnerPids(pid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (ppid === pid && comm.startsWith('skulk-runner')) out.push(Number(name));
    } catch { /* the process ended meanwhile */ }
  }
  return out;
}

// Reads an SSE response line by line. onLine(line) may return true to stop early.
export async function readSse(response, onLine) {
  const reader = response.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const lines = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line) continue;
      lines.push(line);
      if (onLine && (await onLine(line))) {
        await reader.cancel();
        return lines;
      }
    }
  }
  return lines;
}

// The text skulk-generate produces greedily for `prompt` (an independent
// path: no daemon, no runner, no HTTP).
export function generateReference(prompt, n) {
  const r = spawnSync(join(buildDir, 'bin', 'skulk-generate'),
    ['--model', modelFile, '--prompt', prompt, '-n', String(n), '--greedy', '--json', '--threads', '1',
     '--plugin-dir', join(buildDir, 'bin', 'plugins')], { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`skulk-generate failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
