// Shared by the deployment tests: temp dirs, running scripts, stub commands
// that record their arguments, python3 parsing (plistlib, yaml).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sourceDir } from '../harness/daemon.mjs';

export { sourceDir };
export const installDir = join(sourceDir, 'deployment', 'install');
export const loggingDir = join(sourceDir, 'deployment', 'logging');

export function tempDir(prefix = 'skulk-deploy-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeExecutable(path, text) {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

// A bin dir with stubs for `names`: each appends "name args..." to log and
// exits 0 (or the code in stub_exit/<name>, if that file exists). The
// systemctl stub answers `--user show-environment` like a running manager.
export function stubBin(root, names) {
  const bin = join(root, 'stubs');
  mkdirSync(bin, { recursive: true });
  const log = join(root, 'stub-calls.log');
  for (const name of names) {
    writeExecutable(join(bin, name), `#!/bin/sh
echo "${name} $*" >> '${log}'
if [ -f '${root}/stub_exit/${name}' ]; then
  echo "${name}: stubbed failure" >&2
  exit "$(cat '${root}/stub_exit/${name}')"
fi
exit 0
`);
  }
  return { bin, log, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : []) };
}

// Makes the stub `name` fail with `code` from now on.
export function failStub(root, name, code = 1) {
  mkdirSync(join(root, 'stub_exit'), { recursive: true });
  writeFileSync(join(root, 'stub_exit', name), String(code));
}

// A bin dir holding only links to these system tools (a PATH without systemctl/launchctl).
export function minimalBin(root, tools = ['bash', 'sh', 'env', 'dirname', 'basename', 'sed', 'mkdir', 'mv', 'chmod', 'cat', 'id', 'grep', 'rm', 'date', 'tail', 'wc', 'awk', 'touch']) {
  const bin = join(root, 'minimal-bin');
  mkdirSync(bin, { recursive: true });
  for (const t of tools) {
    const which = spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
    if (which) spawnSync('ln', ['-sf', which, join(bin, t)]);
  }
  return bin;
}

// Runs a script with a given HOME and PATH; returns { code, stdout, stderr }.
export function run(script, args, { home, path, env = {}, cwd } = {}) {
  const r = spawnSync(script, args, {
    encoding: 'utf8',
    cwd: cwd || tmpdir(),
    env: { HOME: home, PATH: path, USER: 'skulk-test', ...env },
    timeout: 60000,
  });
  return { code: r.status, stdout: r.stdout || '', stderr: r.stderr || '', error: r.error };
}

// python3 parses the file (plistlib / yaml / json) and prints it as JSON.
export function parseWithPython(kind, file) {
  const code = {
    plist: 'import plistlib,json,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))',
    yaml: 'import yaml,json,sys; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
  }[kind];
  const r = spawnSync('python3', ['-c', code, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 cannot parse ${file} as ${kind}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
