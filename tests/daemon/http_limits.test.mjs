// The HTTP front under idle and slow clients (issue 15, defect 2): a client
// that sends no complete request head is closed after the head deadline
// (api.head_timeout_ms, 5 s by default), and 1,000 such connections leave
// /healthz answering within 1 s for everyone else.
//
// Raw sockets (node:net), so nothing between the test and the daemon pools,
// retries or sends a head for us. The test process itself holds ~1,000
// descriptors: it needs `ulimit -n` >= 1,200 (checked first, with the fix in
// the message); skulk-host raises its own soft limit to the hard one.
//
//   node --test tests/daemon/http_limits.test.mjs   (SKULK_BUILD_DIR: the build to test)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { startDaemon, waitFor } from '../harness/daemon.mjs';
import { startServing, runnerPids, servingSkip, MODEL } from '../clients/serving_helpers.mjs';

const IDLE = 1000;

// The soft open-file limit of this process (from /proc: node has no getrlimit).
function openFileLimit() {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s+/)[3];
  return soft === 'unlimited' ? Infinity : Number(soft);
}

// Connects and sends `head` (nothing when undefined). Resolves with the
// socket once connected, or after connectMs without a connection (a server
// whose backlog is full never completes it): `openedAt` tells which.
// `closedAt` is set when the server ends it.
function openSocket(port, head, connectMs = 3000) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.received = '';
    const timer = setTimeout(() => resolve(s), connectMs);
    s.on('data', (b) => { s.received += b; });
    s.on('close', () => { s.closedAt = performance.now(); });
    s.on('error', () => {}); // a reset by the server counts as closed
    s.once('connect', () => {
      clearTimeout(timer);
      s.openedAt = performance.now();
      if (head !== undefined) s.write(head);
      resolve(s);
    });
  });
}

// One GET over a fresh raw connection; resolves { status, ms } (status 0:
// no answer within timeoutMs).
function rawGet(port, path, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const started = performance.now();
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (status) => { clearTimeout(timer); s.destroy(); resolve({ status, ms: performance.now() - started }); };
    const timer = setTimeout(() => done(0), timeoutMs);
    s.on('error', () => done(0));
    s.on('data', (b) => {
      text += b;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m && text.includes('\r\n\r\n')) done(Number(m[1]));
    });
    s.once('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
  });
}

test(`${IDLE} idle connections leave /healthz answering within 1 s, and the server closes them at the head deadline`, async (t) => {
  const limit = openFileLimit();
  assert.ok(limit >= IDLE + 200, `this test opens ${IDLE} sockets but the open-file limit is ${limit}: run it with \`ulimit -n 4096\``);
  const d = await startDaemon();
  const sockets = [];
  try {
    const headDeadlineMs = 5000; // the documented default (api.head_timeout_ms)
    // The attack: connect, send nothing; a few trickle a head one byte at a time.
    for (let i = 0; i < IDLE; i += 100)
      sockets.push(...await Promise.all(Array.from({ length: 100 }, () => openSocket(d.apiPort))));
    const trickle = await openSocket(d.apiPort, 'G');
    const timer = setInterval(() => { if (!trickle.destroyed) trickle.write('E'); }, 200);
    try {
      // Normal traffic meanwhile: every probe, on a new connection, answers within 1 s.
      let slowest = 0;
      for (let i = 0; i < 10; ++i) {
        const [health, other] = await Promise.all([rawGet(d.apiPort, '/healthz'), rawGet(d.apiPort, '/node_id')]);
        assert.equal(health.status, 200, `/healthz probe ${i} got no answer within 5 s (${IDLE} idle connections open)`);
        assert.ok(health.ms < 1000, `/healthz probe ${i} took ${Math.round(health.ms)} ms with ${IDLE} idle connections open`);
        assert.equal(other.status, 200, `/node_id probe ${i}`);
        slowest = Math.max(slowest, health.ms, other.ms);
      }
      t.diagnostic(`slowest probe with ${IDLE} idle connections open: ${Math.round(slowest)} ms`);
      assert.ok(sockets.every((s) => s.openedAt), 'every idle connection was accepted');
      // The idle ones and the trickler are closed by the server, unanswered,
      // at the head deadline (not held for a minute).
      await waitFor(() => sockets.every((s) => s.closedAt) && trickle.closedAt,
        { timeoutMs: headDeadlineMs + 5000, what: `the server closing ${IDLE} idle connections and the trickling one` });
    } finally {
      clearInterval(timer);
    }
    const held = [...sockets, trickle].map((s) => s.closedAt - s.openedAt);
    t.diagnostic(`idle connections held ${Math.round(Math.min(...held))}..${Math.round(Math.max(...held))} ms`);
    for (const s of [...sockets, trickle]) {
      const heldMs = s.closedAt - s.openedAt;
      assert.ok(heldMs >= headDeadlineMs - 250 && heldMs < headDeadlineMs + 3000, `an idle connection was closed after ${Math.round(heldMs)} ms`);
    }
    assert.ok(sockets.every((s) => s.received === ''), 'an idle connection is closed without an answer');
    // civetweb may say why it closes a half-sent head (a 4xx); never more.
    assert.ok(trickle.received === '' || /^HTTP\/1\.[01] 4\d\d/.test(trickle.received), `a head that never completes gets no answer: ${trickle.received}`);
    assert.equal((await d.get('/healthz')).status, 200);
  } finally {
    for (const s of sockets) s.destroy();
    await d.stop();
  }
});

// A stream is not a request head: once the answer has started, quiet time
// between two chunks (a long prefill, a stalled runner) is not bounded by the
// head deadline. The runner is stopped (SIGSTOP) for 2.5 x the deadline in
// the middle of a stream, which must then go on to its end.
test('a stream that goes quiet for longer than the head deadline is not cut', { skip: servingSkip }, async () => {
  const headDeadlineMs = 1000;
  const d = await startServing({ env: { SKULK_API_HEAD_TIMEOUT_MS: String(headDeadlineMs) } });
  try {
    const [runner] = runnerPids(d.pid);
    assert.ok(runner, 'the runner process');
    const s = await openSocket(d.apiPort);
    const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Once upon a time' }], stream: true, max_tokens: 40, temperature: 0 });
    s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await waitFor(() => s.received.includes('data: {'), { timeoutMs: 30000, what: 'the first chunk of the stream' });
    process.kill(runner, 'SIGSTOP');
    let resumed = false;
    try {
      // The quiet time under test: longer than the head deadline, on purpose.
      await new Promise((r) => setTimeout(r, headDeadlineMs * 2.5));
      assert.equal(s.closedAt, undefined, 'the stream was cut while its runner was quiet');
      process.kill(runner, 'SIGCONT');
      resumed = true;
      await waitFor(() => s.received.includes('data: [DONE]'), { timeoutMs: 30000, what: 'the stream to its [DONE]', describe: () => s.received.slice(-500) });
    } finally {
      if (!resumed) process.kill(runner, 'SIGCONT');
    }
    assert.match(s.received, /^HTTP\/1\.1 200/);
    s.destroy();
  } finally {
    await d.stop({ timeoutMs: 20000 });
  }
});
