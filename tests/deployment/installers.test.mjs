// The service installers in a temp HOME with stub systemctl/loginctl/
// launchctl that record their arguments (these machines have no user
// service manager): installed files, idempotent re-runs that keep an edited
// env file, clear failures, uninstall; the unit passes systemd-analyze
// verify and the plists parse with python3's plistlib.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { installDir, tempDir, stubBin, failStub, minimalBin, run, parseWithPython, writeExecutable } from './helpers.mjs';

const systemdInstaller = join(installDir, 'install-systemd.sh');
const launchdInstaller = join(installDir, 'install-launchd.sh');

// A temp HOME, stubs first on PATH, and a stand-in skulk-host binary.
function sandbox(stubs) {
  const root = tempDir();
  const home = join(root, 'home');
  mkdirSync(home);
  const s = stubBin(root, stubs);
  const binary = join(root, 'skulk-host');
  writeExecutable(binary, '#!/bin/sh\nexit 0\n');
  return { root, home, binary, ...s, path: `${s.bin}:/usr/local/bin:/usr/bin:/bin`, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

function ok(r, what) {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
}

test('install-systemd.sh installs the user unit, the env file, lingering, and starts it; a second run keeps the edited env file', () => {
  const sb = sandbox(['systemctl', 'loginctl']);
  try {
    const opts = { home: sb.home, path: sb.path };
    ok(run(systemdInstaller, ['--binary', sb.binary], opts), 'first install');
    const unitPath = join(sb.home, '.config/systemd/user/skulk.service');
    const envPath = join(sb.home, '.skulk/skulk.env');
    const unit = readFileSync(unitPath, 'utf8');
    for (const line of ['EnvironmentFile=-%h/.skulk/skulk.env', 'Restart=on-failure', 'RestartSec=10', 'StartLimitIntervalSec=300',
      'StartLimitBurst=5', 'KillMode=mixed', 'TimeoutStopSec=30', 'LimitNOFILE=65536', 'LimitMEMLOCK=infinity',
      `Environment=SKULK_INSTALLED_BIN=${sb.binary}`, `ExecStart=${join(installDir, 'skulk-service.sh')}`, 'WantedBy=default.target'])
      assert.ok(unit.split('\n').includes(line), `the unit has ${line}:\n${unit}`);
    assert.doesNotMatch(unit, /__SKULK_/, 'every placeholder is filled in');
    const env = readFileSync(envPath, 'utf8');
    assert.match(env, /^SKULK_LOGGING_EXTERNAL=0$/m, 'Linux defaults to the in-process shipper');
    assert.match(env, /^SKULK_AUTO_UPDATE=[01]$/m);
    assert.deepEqual(sb.calls(), [
      'systemctl --user show-environment',
      'systemctl --user daemon-reload',
      'systemctl --user enable skulk.service',
      'loginctl show-user skulk-test --property=Linger --value',
      'loginctl enable-linger skulk-test',
      'systemctl --user restart skulk.service',
    ]);

    // The operator edits the env file; a re-install keeps it.
    appendFileSync(envPath, 'SKULK_NAMESPACE=my-cluster\n');
    const edited = readFileSync(envPath, 'utf8');
    const second = run(systemdInstaller, ['--binary', sb.binary], opts);
    ok(second, 'second install');
    assert.match(second.stdout, /kept your .*skulk\.env/);
    assert.equal(readFileSync(envPath, 'utf8'), edited, 'the edited env file survives a re-install');
    assert.equal(readFileSync(unitPath, 'utf8'), unit, 'the same unit again');
    assert.equal(sb.calls().filter((c) => c === 'systemctl --user restart skulk.service').length, 2);

    // The installed unit passes systemd-analyze verify with no warning.
    const runtime = join(sb.root, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    const v = spawnSync('systemd-analyze', ['--user', 'verify', unitPath], {
      encoding: 'utf8', env: { ...process.env, HOME: sb.home, XDG_RUNTIME_DIR: runtime },
    });
    assert.equal(v.status, 0, `systemd-analyze verify:\n${v.stderr}`);
    assert.equal(v.stderr.trim(), '', `systemd-analyze verify warns:\n${v.stderr}`);

    // Uninstall removes the unit, keeps the env file.
    ok(run(join(installDir, 'uninstall-systemd.sh'), [], opts), 'uninstall');
    assert.equal(existsSync(unitPath), false);
    assert.equal(readFileSync(envPath, 'utf8'), edited);
    assert.ok(sb.calls().includes('systemctl --user disable --now skulk.service'));
  } finally {
    sb.cleanup();
  }
});

test('install-systemd.sh --no-vector writes a fresh env file with JSON on stdout instead of the in-process shipper', () => {
  const sb = sandbox(['systemctl', 'loginctl']);
  try {
    ok(run(systemdInstaller, ['--no-vector', '--binary', sb.binary], { home: sb.home, path: sb.path }), 'install');
    assert.match(readFileSync(join(sb.home, '.skulk/skulk.env'), 'utf8'), /^SKULK_LOGGING_EXTERNAL=1$/m);
  } finally {
    sb.cleanup();
  }
});

test('install-systemd.sh works from any directory and finds the checkout\'s build', () => {
  const sb = sandbox(['systemctl', 'loginctl']);
  try {
    const build = join(sb.root, 'somebuild');
    mkdirSync(join(build, 'bin'), { recursive: true });
    writeExecutable(join(build, 'bin', 'skulk-host'), '#!/bin/sh\n');
    const r = run(systemdInstaller, [], { home: sb.home, path: sb.path, cwd: sb.root, env: { SKULK_BUILD_DIR: build } });
    ok(r, 'install with SKULK_BUILD_DIR');
    assert.match(readFileSync(join(sb.home, '.config/systemd/user/skulk.service'), 'utf8'),
      new RegExp(`SKULK_INSTALLED_BIN=${build}/bin/skulk-host`));
  } finally {
    sb.cleanup();
  }
});

test('install-systemd.sh fails clearly: no systemctl, no user manager, binary not built; a refused lingering is only a warning', () => {
  const sb = sandbox(['systemctl', 'loginctl']);
  try {
    const noSystemctl = run(systemdInstaller, ['--binary', sb.binary], { home: sb.home, path: minimalBin(sb.root) });
    assert.notEqual(noSystemctl.code, 0);
    assert.match(noSystemctl.stderr, /systemctl not found: this installer needs Linux with systemd/);

    const notBuilt = run(systemdInstaller, [], { home: sb.home, path: sb.path, env: { SKULK_BUILD_DIR: join(sb.root, 'nothing-here') } });
    assert.notEqual(notBuilt.code, 0);
    assert.match(notBuilt.stderr, /skulk-host is not built: .*nothing-here\/bin\/skulk-host does not exist\. Run deployment\/dev\.sh build first/);

    failStub(sb.root, 'loginctl');
    ok(run(systemdInstaller, ['--binary', sb.binary], { home: sb.home, path: sb.path }), 'install without lingering');

    failStub(sb.root, 'systemctl');
    const noManager = run(systemdInstaller, ['--binary', sb.binary], { home: sb.home, path: sb.path });
    assert.notEqual(noManager.code, 0);
    assert.match(noManager.stderr, /systemd is not running as your user manager/);
  } finally {
    sb.cleanup();
  }
});

test('install-systemd.sh: lingering refused says how to fix it', () => {
  const sb = sandbox(['systemctl', 'loginctl']);
  try {
    failStub(sb.root, 'loginctl');
    const r = run(systemdInstaller, ['--binary', sb.binary], { home: sb.home, path: sb.path });
    ok(r, 'install');
    assert.match(r.stdout, /could not turn on lingering.*sudo loginctl enable-linger skulk-test/);
  } finally {
    sb.cleanup();
  }
});

test('install-launchd.sh installs both LaunchAgents and the env file; plists parse with the required keys; re-runs keep the env file', () => {
  const sb = sandbox(['launchctl']);
  try {
    const opts = { home: sb.home, path: sb.path };
    ok(run(launchdInstaller, ['--binary', sb.binary], opts), 'first install');
    const agents = join(sb.home, 'Library/LaunchAgents');
    const logs = join(sb.home, '.skulk/logs');
    const skulk = parseWithPython('plist', join(agents, 'foundation.foxlight.skulk.plist'));
    const vector = parseWithPython('plist', join(agents, 'foundation.foxlight.skulk-vector.plist'));
    assert.equal(skulk.Label, 'foundation.foxlight.skulk');
    assert.equal(vector.Label, 'foundation.foxlight.skulk-vector');
    assert.deepEqual(skulk.ProgramArguments, ['/bin/bash', join(installDir, 'skulk-service.sh'), '--launchd']);
    assert.deepEqual(vector.ProgramArguments, ['/bin/bash', join(installDir, 'skulk-vector-service.sh')]);
    for (const p of [skulk, vector]) {
      assert.deepEqual(p.KeepAlive, { SuccessfulExit: false }, 'restarted after a crash only');
      assert.equal(p.ThrottleInterval, 10);
      assert.equal(p.RunAtLoad, true);
      assert.equal(p.EnvironmentVariables.SKULK_INSTALLED_BIN, sb.binary);
    }
    assert.equal(skulk.StandardOutPath, join(logs, 'skulk.stdout.log'));
    assert.equal(skulk.StandardErrorPath, join(logs, 'skulk.stderr.log'));
    assert.equal(vector.StandardErrorPath, join(logs, 'vector.stderr.log'));
    const envPath = join(sb.home, '.skulk/skulk.env');
    const env = readFileSync(envPath, 'utf8');
    assert.match(env, /^SKULK_LOGGING_ENABLED=1$/m, 'JSON on stdout for the Vector agent');
    assert.match(env, /^SKULK_LOGGING_EXTERNAL=1$/m);
    const uid = String(process.getuid());
    for (const label of ['foundation.foxlight.skulk', 'foundation.foxlight.skulk-vector']) {
      assert.ok(sb.calls().includes(`launchctl bootout gui/${uid}/${label}`), sb.calls().join('\n'));
      assert.ok(sb.calls().includes(`launchctl bootstrap gui/${uid} ${join(agents, label + '.plist')}`));
      assert.ok(sb.calls().includes(`launchctl enable gui/${uid}/${label}`));
    }

    writeFileSync(envPath, env.replace(/^SKULK_VERBOSITY=$/m, 'SKULK_VERBOSITY=-v'));
    const edited = readFileSync(envPath, 'utf8');
    ok(run(launchdInstaller, ['--binary', sb.binary], opts), 'second install');
    assert.equal(readFileSync(envPath, 'utf8'), edited, 'the edited env file survives a re-install');

    // --no-vector on a re-run removes the Vector agent; --uninstall removes both.
    ok(run(launchdInstaller, ['--no-vector', '--binary', sb.binary], opts), 'install --no-vector');
    assert.equal(existsSync(join(agents, 'foundation.foxlight.skulk-vector.plist')), false);
    assert.equal(existsSync(join(agents, 'foundation.foxlight.skulk.plist')), true);
    ok(run(launchdInstaller, ['--uninstall'], opts), 'uninstall');
    assert.equal(existsSync(join(agents, 'foundation.foxlight.skulk.plist')), false);
    assert.equal(readFileSync(envPath, 'utf8'), edited);
  } finally {
    sb.cleanup();
  }
});

test('install-launchd.sh without launchctl says so', () => {
  const sb = sandbox([]);
  try {
    const r = run(launchdInstaller, ['--binary', sb.binary], { home: sb.home, path: minimalBin(sb.root) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /launchctl not found: this installer is for macOS/);
  } finally {
    sb.cleanup();
  }
});
