// `skulk-host plugins`: every *.so of the fixture dir is listed, the broken
// ones with the reason they were refused, in text and in --json.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, mkdtempSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSkulk, buildDir } from '../harness/daemon.mjs';

const fixtures = join(buildDir, 'fixtures', 'plugins');
// The reason each broken fixture must be refused with (tests/abi/fixtures).
const reasons = {
  'libfixture_no_entry.so': 'no entry symbol skulk_plugin_negotiate',
  'libfixture_wrong_major.so': 'implements ABI major 2',
  'libfixture_newer_minor.so': 'needs ABI minor 1.6',
  'libfixture_version_status.so': 'returned SKULK_E_VERSION (7)',
  'libfixture_unknown_kind.so': 'unknown plugin kind 9',
  'libfixture_empty_name.so': 'empty plugin name',
  'libfixture_null_vtable.so': 'NULL vtable for a compute plugin',
  'libfixture_short_vtable.so': 'compute vtable size',
  'libfixture_null_slot.so': 'compute vtable slot forward is NULL',
  'libfixture_score_zero.so': 'score() is 0: cannot run on this machine',
  'libfixture_throws.so': 'threw a C++ exception',
  'libfixture_crash_score.so': 'crashed in score (signal 11',
  'libfixture_crash_negotiate.so': 'crashed in negotiate (signal 6',
  'libfixture_bad_tags.so': 'backend_tags() is not valid JSON',
  'libfixture_hangs.so': 'timed out in negotiate',
  'libfixture_crash_proc_address.so': 'crashed in get_proc_address (signal 11',
  'libfixture_proc_address_answers_all.so': 'an unknown name must answer NULL',
  'libfixture_proc_address_throws.so': 'get_proc_address() threw a C++ exception',
};
const usable = ['libfixture_good.so', 'libfixture_good_fast.so', 'libfixture_minor0.so', 'libexample_echo.so'];

// One text and one JSON listing of the whole fixture dir, run side by side
// (the hanging fixture costs each run the 5 s probe timeout).
let text, json;
before(async () => {
  [text, json] = await Promise.all([
    runSkulk(['plugins', '--plugin-dir', fixtures]),
    runSkulk(['plugins', '--plugin-dir', fixtures, '--json']),
  ]);
});

test('the fixture dir holds exactly the fixtures this test knows', () => {
  const files = readdirSync(fixtures).filter((f) => f.endsWith('.so')).sort();
  assert.deepEqual(files, [...Object.keys(reasons), ...usable].sort());
});

test('text listing: every file, the refused ones with their reason, exit 0', () => {
  assert.equal(text.code, 0, text.stderr);
  // Blocks of "path\n  line\n  line" separated by blank lines.
  const blocks = new Map();
  for (const block of text.stdout.split('\n\n')) {
    const [first, ...rest] = block.split('\n');
    if (first.endsWith('.so')) blocks.set(first.split('/').pop(), rest.join('\n'));
  }
  for (const [file, reason] of Object.entries(reasons)) {
    assert.ok(blocks.has(file), `${file} listed`);
    assert.ok(blocks.get(file).includes('REFUSED'), `${file} refused`);
    assert.ok(blocks.get(file).includes(reason), `${file}: "${reason}" in ${blocks.get(file)}`);
  }
  for (const file of usable) assert.match(blocks.get(file), /^ {2}ok /, file);
  assert.match(blocks.get('libfixture_good.so'), /compute fixture_good 1\.2\.3, ABI 1\.1, score 5, tags \[fixture-cpu\]/);
  assert.match(text.stdout, new RegExp(`${Object.keys(reasons).length + usable.length} file\\(s\\) found, ${usable.length} usable`));
});

test('--json listing parses and carries the same verdicts', () => {
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.deepEqual(doc.dirs, [{ path: fixtures, exists: true }]);
  const byFile = new Map(doc.plugins.map((p) => [p.path.split('/').pop(), p]));
  assert.equal(byFile.size, Object.keys(reasons).length + usable.length);
  for (const [file, reason] of Object.entries(reasons)) {
    assert.equal(byFile.get(file).usable, false, file);
    assert.ok(byFile.get(file).refused_reason.includes(reason), `${file}: ${byFile.get(file).refused_reason}`);
  }
  const good = byFile.get('libfixture_good_fast.so');
  assert.equal(good.usable, true);
  assert.deepEqual(
    { kind: good.kind, name: good.name, version: good.version, abi: [good.abi_major, good.abi_minor], score: good.score, tags: good.backend_tags },
    { kind: 'compute', name: 'fixture_good_fast', version: '1.2.3', abi: [1, 1], score: 9, tags: ['fixture-gpu'] });
  assert.equal(byFile.get('libexample_echo.so').kind, 'adapter');
});

test('SKULK_PLUGIN_DIR (colon-separated) is used when no --plugin-dir is given', async () => {
  const a = mkdtempSync(join(tmpdir(), 'skulk-pa-'));
  const b = mkdtempSync(join(tmpdir(), 'skulk-pb-'));
  try {
    symlinkSync(join(fixtures, 'libfixture_good.so'), join(a, 'libfixture_good.so'));
    symlinkSync(join(fixtures, 'libexample_echo.so'), join(b, 'libexample_echo.so'));
    const r = await runSkulk(['plugins', '--json'], { env: { SKULK_PLUGIN_DIR: `${a}:${b}` } });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.dirs.map((d) => d.path), [a, b]);
    assert.deepEqual(doc.plugins.map((p) => p.name), ['fixture_good', 'example_echo']);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('a bad flag exits 2 with the reason', async () => {
  const r = await runSkulk(['plugins', '--frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--frobnicate/);
});
