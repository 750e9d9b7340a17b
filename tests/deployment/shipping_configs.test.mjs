// deployment/logging/: the Vector configs, the central stack's compose file
// and the Grafana provisioning parse (python3 yaml, JSON) and carry what the
// external logging guide promises (stdin / file sources, the jsonline sink,
// the 512 MB disk buffer, VictoriaLogs on 9428 with 90-day retention,
// Grafana on 3000 with its datasource and dashboard).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loggingDir, parseWithPython } from './helpers.mjs';

const yaml = (rel) => parseWithPython('yaml', join(loggingDir, rel));
const onlyValue = (obj, what) => {
  const values = Object.values(obj || {});
  assert.equal(values.length, 1, `one ${what}`);
  return values[0];
};

function assertVictoriaLogsSink(config) {
  const sink = onlyValue(config.sinks, 'sink');
  assert.equal(sink.type, 'http');
  assert.match(sink.uri, /^\$\{SKULK_LOGGING_INGEST_URL:-http:\/\/[^}]+\/insert\/jsonline\?_stream_fields=node_id,component&_msg_field=msg&_time_field=ts\}$/);
  assert.equal(sink.framing.method, 'newline_delimited');
  assert.equal(sink.encoding.codec, 'json');
  assert.equal(sink.buffer.type, 'disk');
  assert.equal(sink.buffer.max_size, 512 * 1024 * 1024, '512 MB on disk while the store is down');
  assert.match(config.data_dir, /^\$\{SKULK_VECTOR_DATA_DIR/);
  return sink;
}

test('vector.yaml: stdin source (JSON lines from skulk-host) into the VictoriaLogs jsonline sink', () => {
  const c = yaml('vector.yaml');
  const [name, source] = Object.entries(c.sources)[0];
  assert.equal(source.type, 'stdin');
  assert.equal(source.decoding.codec, 'json');
  assert.deepEqual(assertVictoriaLogsSink(c).inputs, [name]);
});

test('vector-external.yaml: tails the captured stdout file ($SKULK_LOG_FILE)', () => {
  const c = yaml('vector-external.yaml');
  const source = onlyValue(c.sources, 'source');
  assert.equal(source.type, 'file');
  assert.match(source.include[0], /^\$\{SKULK_LOG_FILE/);
  const [tname, transform] = Object.entries(c.transforms)[0];
  assert.equal(transform.type, 'remap');
  assert.match(transform.source, /parse_json/);
  assert.deepEqual(assertVictoriaLogsSink(c).inputs, [tname]);
});

test('docker-compose.yml: VictoriaLogs on 9428 (90 days), Grafana on 3000 with provisioning and a required password', () => {
  const c = yaml('docker-compose.yml');
  const vl = c.services.victorialogs;
  assert.match(vl.image, /^victoriametrics\/victoria-logs:/);
  assert.ok(vl.ports.includes('9428:9428'));
  assert.ok(vl.command.includes('-retentionPeriod=90d'));
  assert.ok(vl.volumes.some((v) => v.startsWith('vlogs-data:')));
  const g = c.services.grafana;
  assert.match(g.image, /^grafana\/grafana:/);
  assert.ok(g.ports.includes('3000:3000'));
  assert.match(g.environment.GF_SECURITY_ADMIN_PASSWORD, /^\$\{GF_SECURITY_ADMIN_PASSWORD:\?/, 'refuses to start without a password');
  assert.match(g.environment.GF_INSTALL_PLUGINS, /victoriametrics-logs-datasource/);
  assert.ok(g.volumes.includes('./grafana/provisioning:/etc/grafana/provisioning:ro'));
  assert.ok(g.volumes.includes('./grafana/dashboards:/var/lib/grafana/dashboards:ro'));
  assert.ok('vlogs-data' in c.volumes && 'grafana-data' in c.volumes);
});

test('Grafana provisioning: the VictoriaLogs datasource is the default; the cluster dashboard uses it', () => {
  const ds = yaml('grafana/provisioning/datasources/victorialogs.yaml').datasources[0];
  assert.equal(ds.type, 'victoriametrics-logs-datasource');
  assert.equal(ds.url, 'http://victorialogs:9428');
  assert.equal(ds.isDefault, true);
  const provider = yaml('grafana/provisioning/dashboards/skulk.yaml').providers[0];
  assert.equal(provider.options.path, '/var/lib/grafana/dashboards');
  const dash = JSON.parse(readFileSync(join(loggingDir, 'grafana/dashboards/skulk-cluster.json'), 'utf8'));
  assert.equal(dash.uid, 'skulk-cluster');
  assert.ok(dash.panels.length >= 3);
  for (const p of dash.panels) {
    assert.equal(p.datasource.uid, ds.uid, `panel ${p.title} uses the provisioned datasource`);
    assert.ok(p.targets[0].expr.includes('node_id'), `panel ${p.title} filters by node`);
  }
});
