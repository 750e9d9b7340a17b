// tests/harness/daemon.mjs: start real skulk-host processes for node tests.
//
//   import { startDaemon, runSkulk } from '../harness/daemon.mjs';
//   const d = await startDaemon();            // fresh temp data dir, free ports
//   const r = await d.get('/healthz');        // { status, headers, text, json }
//   await d.post('/v1/chat/completions', { ... });
//   const { code, signal, elapsedMs } = await d.stop();   // SIGTERM
//
// Port discovery: the daemon writes <data-dir>/runtime.json
// ({"pid","nodeId","apiPort","clusterPort"}) atomically once it has bound its
// listeners; we poll that file (and then /healthz) with a deadline. No fixed
// sleeps anywhere: every wait is a poll with a deadline.
//
// No npm dependencies: node >= 18 (global fetch, node:test).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const sourceDir = process.env.SKULK_SOURCE_DIR || resolve(here, '..', '..');
export const buildDir = process.env.SKULK_BUILD_DIR || join(sourceDir, 'build');
export const binary = join(buildDir, 'bin', 'skulk-host');

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() until it returns a truthy value or the deadline passes.
// fn may be async; exceptions count as "not yet". Throws with `what` on timeout.
// `describe`, when given, is called on timeout and its text (what was last
// seen) is added to the error, so a failed wait says why it failed.
export async function waitFor(fn, { timeoutMs = 20000, intervalMs = 25, what = 'condition', describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (lastError ? `: ${lastError.message}` : '')
        + (describe ? `\nlast seen:\n${describe()}` : ''));
    await delay(intervalMs);
  }
}

// Every daemon we start, so a crashed test run never leaves orphans behind.
const live = new Set();
process.on('exit', () => {
  for (const d of live) {
    try { process.kill(d.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

// Runs `skulk-host <args>` to completion (for --version, --help, plugins ...).
export function runSkulk(args, { env = {}, timeoutMs = 30000 } = {}) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`skulk-host ${args.join(' ')} ran longer than ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolveRun({ code, signal, stdout, stderr }); });
  });
}

export class Daemon {
  constructor(child, dataDir, ownsDataDir, apiHost = '127.0.0.1') {
    this.child = child;
    this.apiHost = apiHost; // where the API is reached (--api-bind)
    this.pid = child.pid;
    this.dataDir = dataDir;
    this.ownsDataDir = ownsDataDir;
    this.stdout = '';
    this.stderr = '';
    this.exited = null; // { code, signal } once the process has ended
    this.runtime = null;
    child.stdout.on('data', (b) => (this.stdout += b));
    child.stderr.on('data', (b) => (this.stderr += b));
    this.exitPromise = new Promise((r) => child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      live.delete(this);
      r(this.exited);
    }));
  }

  get apiPort() { return this.runtime?.apiPort; }
  get clusterPort() { return this.runtime?.clusterPort; }
  get nodeId() { return this.runtime?.nodeId; }
  get baseUrl() { return `http://${this.apiHost}:${this.apiPort}`; }

  // Reads runtime.json (null while it is not there yet).
  readRuntime() {
    const path = join(this.dataDir, 'runtime.json');
    if (!existsSync(path)) return null;
    return JSON.parse(readFileSync(path, 'utf8'));
  }

  // One HTTP request. Returns { status, headers, text, json } (json: parsed
  // body when it is JSON, else undefined). Never throws on a 4xx/5xx.
  async request(method, path, { body, headers = {}, timeoutMs = 30000 } = {}) {
    const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      if (!init.headers['content-type']) init.headers['content-type'] = 'application/json';
    }
    const res = await fetch(this.baseUrl + path, init);
    const text = await res.text();
    let json;
    try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  }

  get(path, opts) { return this.request('GET', path, opts); }
  post(path, json, opts) { return this.request('POST', path, { ...opts, body: json }); }
  delete(path, opts) { return this.request('DELETE', path, opts); }

  // The raw fetch Response, for streaming (SSE / NDJSON) tests.
  fetch(path, init = {}) { return fetch(this.baseUrl + path, init); }

  // Sends `signal`, waits for the exit. Returns { code, signal, elapsedMs }.
  // If the process does not end within timeoutMs it is SIGKILLed and
  // { timedOut: true } is set, so a hanging shutdown fails the test, not CI.
  async stop({ signal = 'SIGTERM', timeoutMs = 10000, keepDataDir = false } = {}) {
    const started = performance.now();
    let timedOut = false;
    if (!this.exited) {
      this.child.kill(signal);
      let timer;
      const expired = new Promise((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
      if ((await Promise.race([this.exitPromise, expired])) === 'timeout') {
        timedOut = true;
        this.child.kill('SIGKILL');
      }
      clearTimeout(timer); // a pending timer would keep node's event loop alive
    }
    const { code, signal: bySignal } = await this.exitPromise;
    const elapsedMs = performance.now() - started;
    if (this.ownsDataDir && !keepDataDir) rmSync(this.dataDir, { recursive: true, force: true });
    return { code, signal: bySignal, elapsedMs, timedOut };
  }

  // SIGKILL: the process gets no chance to clean up (crash simulation).
  async kill9() {
    if (!this.exited) this.child.kill('SIGKILL');
    return this.exitPromise;
  }
}

// Starts skulk-host with a fresh temp data dir, --api-port 0 and
// --cluster-port 0, waits until runtime.json names this process and, unless
// --no-api is passed, until /healthz answers 200.
//   args:     extra flags
//   env:      extra environment (SKULK_* ...)
//   dataDir:  reuse a directory (kept on stop) instead of a fresh temp one
//   ready:    extra predicate on the runtime info, e.g. (r) => r.clusterPort
//   apiHost:  the address to reach the API at (with --api-bind)
export async function startDaemon({ args = [], env = {}, dataDir, ready, timeoutMs = 30000, apiHost } = {}) {
  const ownsDataDir = !dataDir;
  dataDir = dataDir || mkdtempSync(join(tmpdir(), 'skulk-test-'));
  rmSync(join(dataDir, 'runtime.json'), { force: true }); // a stale one from an earlier run
  const argv = ['--data-dir', dataDir];
  if (!args.includes('--api-port')) argv.push('--api-port', '0');
  if (!args.includes('--cluster-port')) argv.push('--cluster-port', '0');
  argv.push(...args);
  // UDP discovery beacons off unless a test asks for them: test daemons on
  // one host would otherwise find each other and form one cluster (tests
  // that want a cluster pass --bootstrap-peers).
  // The durable skulk.log goes in the data dir, not the shared ~/.cache/skulk/logs.
  const child = spawn(binary, argv, { env: { SKULK_BEACONS: '0', SKULK_LOG_DIR: join(dataDir, 'logs'), ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'] });
  const d = new Daemon(child, dataDir, ownsDataDir, apiHost);
  live.add(d);
  // Fails the wait at once if the process cannot start or dies while starting.
  const died = new Promise((_, reject) => {
    child.on('error', reject);
    d.exitPromise.then((x) => reject(new Error(`skulk-host exited while starting (${JSON.stringify(x)})`)));
  });
  died.catch(() => {}); // only observed through the race below
  try {
    // Each wait also ends when the process has exited (`died` has then
    // failed the race already), so no poll outlives a daemon that died.
    await Promise.race([died, waitFor(() => {
      if (d.exited) return true;
      const r = d.readRuntime();
      if (!r || r.pid !== d.pid || (ready && !ready(r))) return null;
      d.runtime = r;
      return r;
    }, { timeoutMs, what: `${join(dataDir, 'runtime.json')} of pid ${d.pid}` })]);
    if (!args.includes('--no-api'))
      await Promise.race([died, waitFor(async () => d.exited || (await d.get('/healthz', { timeoutMs: 2000 })).status === 200,
        { timeoutMs, what: 'GET /healthz' })]);
  } catch (e) {
    await d.stop({ signal: 'SIGKILL' });
    throw new Error(`${e.message}\n--- skulk-host stderr ---\n${d.stderr}`);
  }
  return d;
}
