// deployment/install/skulk-service.sh, what the service runs: it reads the
// env file as systemd does (an URL with '&' stays text), drops empty
// settings, passes SKULK_VERBOSITY/SKULK_EXTRA_ARGS, keeps the tail of the
// previous capture files, refuses a missing binary, and (launchd) gives up
// after 5 starts within 5 minutes. skulk-host is a stand-in script here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, existsSync, rmSync, cpSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { waitFor, binary as daemonBinary } from '../harness/daemon.mjs';
import { join } from 'node:path';
import { installDir, tempDir, run, writeExecutable } from './helpers.mjs';

const wrapper = join(installDir, 'skulk-service.sh');

function sandbox() {
  const root = tempDir();
  const home = join(root, 'home');
  mkdirSync(join(home, '.skulk', 'logs'), { recursive: true });
  const out = join(root, 'exec.txt');
  const bin = join(root, 'skulk-host');
  // Prints its argv and the SKULK_* environment it was given.
  writeExecutable(bin, `#!/bin/sh\n{ echo "args: $*"; env | grep '^SKULK_' | sort; } > '${out}'\n`);
  return { root, home, bin, out, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

test('the env file is read as systemd reads it; empty settings are dropped; flags are passed', () => {
  const sb = sandbox();
  try {
    writeFileSync(join(sb.home, '.skulk', 'skulk.env'), [
      '# a comment',
      'SKULK_AUTO_UPDATE=0',
      'SKULK_VERBOSITY=-v',
      'SKULK_EXTRA_ARGS=--api-port 1234',
      'SKULK_LOGGING_INGEST_URL=http://central:9428/insert/jsonline?_stream_fields=node_id,component&_msg_field=msg',
      'SKULK_BEACON_PORT=',
      'SKULK_LIBP2P_NAMESPACE=old-name',
      '',
    ].join('\n'));
    const r = run(wrapper, ['--launchd'], { home: sb.home, path: '/usr/bin:/bin', env: { SKULK_INSTALLED_BIN: sb.bin } });
    assert.equal(r.code, 0, r.stderr);
    const seen = readFileSync(sb.out, 'utf8');
    assert.match(seen, /^args: -v --api-port 1234$/m);
    assert.match(seen, /^SKULK_LOGGING_INGEST_URL=http:\/\/central:9428\/insert\/jsonline\?_stream_fields=node_id,component&_msg_field=msg$/m);
    assert.doesNotMatch(seen, /SKULK_BEACON_PORT/, 'an empty value means the default: unset');
    assert.match(seen, /^SKULK_NAMESPACE=old-name$/m, "the earlier product's namespace variable is honoured");
    assert.doesNotMatch(seen, /SKULK_INSTALLED_BIN|SKULK_VERBOSITY/);
  } finally {
    sb.cleanup();
  }
});

test('capture files start empty each launch, the previous tail kept as .1', () => {
  const sb = sandbox();
  try {
    const logs = join(sb.home, '.skulk', 'logs');
    writeFileSync(join(logs, 'skulk.stderr.log'), 'x'.repeat(100) + 'previous run tail');
    writeFileSync(join(sb.home, '.skulk', 'skulk.env'), 'SKULK_CAPTURE_KEEP_BYTES=17\nSKULK_AUTO_UPDATE=0\n');
    const r = run(wrapper, ['--launchd'], { home: sb.home, path: '/usr/bin:/bin', env: { SKULK_INSTALLED_BIN: sb.bin } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(logs, 'skulk.stderr.log'), 'utf8'), '');
    assert.equal(readFileSync(join(logs, 'skulk.stderr.log.1'), 'utf8'), 'previous run tail');
  } finally {
    sb.cleanup();
  }
});

test('a missing binary is refused with what to do', () => {
  const sb = sandbox();
  try {
    const r = run(wrapper, [], { home: sb.home, path: '/usr/bin:/bin', env: { SKULK_INSTALLED_BIN: join(sb.root, 'nope'), SKULK_AUTO_UPDATE: '0' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope does not exist or is not executable \(not built\? run deployment\/dev\.sh build/);
  } finally {
    sb.cleanup();
  }
});

test('launchd: the sixth start within 5 minutes gives up with exit 0 (launchd does not restart it); the next start goes ahead', () => {
  const sb = sandbox();
  try {
    writeFileSync(join(sb.home, '.skulk', 'skulk.env'), 'SKULK_AUTO_UPDATE=0\n');
    const start = () => run(wrapper, ['--launchd'], { home: sb.home, path: '/usr/bin:/bin', env: { SKULK_INSTALLED_BIN: sb.bin } });
    for (let i = 0; i < 5; i++) {
      rmSync(sb.out, { force: true });
      assert.equal(start().code, 0);
      assert.ok(existsSync(sb.out), `start ${i + 1} ran skulk-host`);
    }
    rmSync(sb.out, { force: true });
    const sixth = start();
    assert.equal(sixth.code, 0);
    assert.match(sixth.stderr, /started 5 times within 5 minutes: giving up/);
    assert.equal(existsSync(sb.out), false, 'skulk-host is not started again');
    assert.equal(start().code, 0);
    assert.ok(existsSync(sb.out), 'a person starting it again is not refused');
  } finally {
    sb.cleanup();
  }
});

// A copy of deployment/install/ in a temp dir that is (or is not) a git checkout, with a stand-in build.
function checkoutSandbox({ git }) {
  const sb = sandbox();
  const repo = join(sb.root, 'repo');
  mkdirSync(join(repo, 'deployment'), { recursive: true });
  cpSync(installDir, join(repo, 'deployment', 'install'), { recursive: true });
  mkdirSync(join(repo, 'build', 'bin'), { recursive: true });
  writeExecutable(join(repo, 'build', 'bin', 'skulk-host'), `#!/bin/sh\necho ran > '${sb.out}'\n`);
  if (git) spawnSync('git', ['init', '-q', repo]);
  return { ...sb, repo, wrapper: join(repo, 'deployment', 'install', 'skulk-service.sh') };
}

test('a checkout updates itself before each start (logged to skulk.prep.log, failures ignored); SKULK_AUTO_UPDATE=0 or a packaged install does not', () => {
  const sb = checkoutSandbox({ git: true });
  try {
    const prep = join(sb.home, '.skulk', 'logs', 'skulk.prep.log');
    const r = run(sb.wrapper, [], { home: sb.home, path: '/usr/bin:/bin', env: { SKULK_INSTALLED_BIN: join(sb.repo, 'build', 'bin', 'skulk-host') } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(sb.out, 'utf8'), 'ran\n', 'the service starts after a failed update');
    const log = readFileSync(prep, 'utf8');
    assert.match(log, /=== \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ boot prep of /);
    assert.match(log, /git pull failed \(ignored\): running the revision on disk/, 'no upstream: logged, ignored');
    assert.match(log, /no CMake build dir next to .*: not rebuilt/);

    rmSync(prep);
    assert.equal(run(sb.wrapper, [], { home: sb.home, path: '/usr/bin:/bin', env: { SKULK_AUTO_UPDATE: '0', SKULK_INSTALLED_BIN: join(sb.repo, 'build', 'bin', 'skulk-host') } }).code, 0);
    assert.equal(existsSync(prep), false, 'SKULK_AUTO_UPDATE=0: no update');
  } finally {
    sb.cleanup();
  }
  const packaged = checkoutSandbox({ git: false });
  try {
    const r = run(packaged.wrapper, [], { home: packaged.home, path: '/usr/bin:/bin', env: { SKULK_INSTALLED_BIN: join(packaged.repo, 'build', 'bin', 'skulk-host') } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(join(packaged.home, '.skulk', 'logs', 'skulk.prep.log')), false, 'not a checkout: off by default');
  } finally {
    packaged.cleanup();
  }
});

test('the real skulk-host starts through the wrapper with the env template as the env file, and stops on SIGTERM', { skip: !existsSync(daemonBinary) && `${daemonBinary} is not built` }, async () => {
  const sb = sandbox();
  try {
    const dataDir = join(sb.root, 'data');
    const template = readFileSync(join(installDir, 'skulk.env.example'), 'utf8')
      .replace(/^SKULK_AUTO_UPDATE=.*$/m, 'SKULK_AUTO_UPDATE=0')
      .replace(/^SKULK_BEACONS=.*$/m, 'SKULK_BEACONS=0')
      .replace(/^SKULK_EXTRA_ARGS=.*$/m, `SKULK_EXTRA_ARGS=--api-port 0 --cluster-port 0 --data-dir ${dataDir}`);
    writeFileSync(join(sb.home, '.skulk', 'skulk.env'), template);
    const child = spawn(wrapper, ['--launchd'], { env: { HOME: sb.home, PATH: '/usr/bin:/bin', SKULK_INSTALLED_BIN: daemonBinary }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    try {
      const runtime = await waitFor(() => {
        const f = join(dataDir, 'runtime.json');
        return existsSync(f) && JSON.parse(readFileSync(f, 'utf8'));
      }, { timeoutMs: 30000, what: 'runtime.json of the daemon started by the wrapper', describe: () => stderr });
      assert.equal(runtime.pid, child.pid, 'the wrapper execs skulk-host: the service manager signals it directly');
      const res = await fetch(`http://127.0.0.1:${runtime.apiPort}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    assert.deepEqual(await exited, { code: 0, signal: null }, stderr);
    assert.match(readFileSync(join(sb.home, '.cache', 'skulk', 'logs', 'skulk.log'), 'utf8'), /\[daemon\] stopped$/m, 'the durable log in the XDG cache dir');
  } finally {
    sb.cleanup();
  }
});
