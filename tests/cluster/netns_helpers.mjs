// Network namespaces for cluster tests (root only): a stranger's namespace
// joined to this one by a veth pair, and a private switch (a bridge in its
// own namespace) that nodes in their own namespaces hang off, with ports
// that can be cut and healed. Names carry a per-run tag so parallel runs
// never collide; remove() deletes everything made here.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

const execFile = promisify(execFileCb);

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

// Why netns tests cannot run here, or '' when they can.
export function netnsUnavailable() {
  if (!isRoot()) return 'needs root for network namespaces';
  const probe = `skulk-chk-${randomBytes(3).toString('hex')}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    return '';
  } catch (e) {
    return `ip netns does not work here: ${e.message}`;
  }
}

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

// A random 10.x.y.0/24 subnet for this run (x in 200..249).
function subnet() {
  const b = randomBytes(2);
  return `10.${200 + (b[0] % 50)}.${b[1]}`;
}

// One namespace with a veth to this (the test's) namespace: the test reaches
// it at `innerIp`, it reaches the test's namespace at `hostIp`.
export function strangerNamespace() {
  const tag = randomBytes(3).toString('hex');
  const net = subnet();
  const ns = `skulk-str-${tag}`, outer = `sks${tag}a`, inner = `sks${tag}b`;
  ip('netns', 'add', ns);
  const made = { ns, hostIp: `${net}.1`, innerIp: `${net}.2`, remove: () => removeAll([ns], [outer]) };
  try {
    ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
    ip('link', 'set', inner, 'netns', ns);
    ip('addr', 'add', `${net}.1/24`, 'dev', outer);
    ip('link', 'set', outer, 'up');
    ip('-n', ns, 'addr', 'add', `${net}.2/24`, 'dev', inner);
    ip('-n', ns, 'link', 'set', inner, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  } catch (e) {
    made.remove();
    throw e;
  }
  return made;
}

// `n` node namespaces on one switch (a bridge in its own namespace; node i
// at `${net}.${i + 1}` on it) for cluster traffic, and each with its own
// management veth to the test's namespace (node i's `mgmtIp`) for the HTTP
// API, so cutting a node's switch port (cut(i), heal(i)) splits the cluster
// while the test still reaches every node.
export function switchedNamespaces(n) {
  const tag = randomBytes(3).toString('hex');
  const net = subnet();
  let mgmtNet = subnet();
  while (mgmtNet === net) mgmtNet = subnet();
  const sw = `skulk-sw-${tag}`;
  const nodes = [];
  const namespaces = [sw], rootLinks = [];
  const remove = () => removeAll(namespaces, rootLinks);
  const veth = (a, b) => {
    ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    rootLinks.push(a);
  };
  const address = (ns, dev, cidr) => {
    ip('-n', ns, 'addr', 'add', cidr, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
  };
  try {
    ip('netns', 'add', sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    for (let i = 0; i < n; ++i) {
      const ns = `skulk-n${i}-${tag}`;
      ip('netns', 'add', ns);
      namespaces.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // Cluster link: node <-> switch port.
      const port = `skp${i}${tag}`, nic = `skn${i}${tag}`;
      veth(nic, port);
      ip('link', 'set', port, 'netns', sw);
      ip('-n', sw, 'link', 'set', port, 'master', 'br0');
      ip('-n', sw, 'link', 'set', port, 'up');
      ip('link', 'set', nic, 'netns', ns);
      address(ns, nic, `${net}.${i + 1}/24`);
      // Management link: the test's namespace <-> node, a /30 of its own.
      const outer = `skm${i}${tag}`, inner = `skk${i}${tag}`;
      veth(outer, inner);
      ip('link', 'set', inner, 'netns', ns);
      ip('addr', 'add', `${mgmtNet}.${4 * i + 1}/30`, 'dev', outer);
      ip('link', 'set', outer, 'up');
      address(ns, inner, `${mgmtNet}.${4 * i + 2}/30`);
      nodes.push({ ns, ip: `${net}.${i + 1}`, mgmtIp: `${mgmtNet}.${4 * i + 2}`, port });
    }
  } catch (e) {
    remove();
    throw e;
  }
  return {
    nodes,
    cut: (i) => ip('-n', sw, 'link', 'set', nodes[i].port, 'down'),
    heal: (i) => ip('-n', sw, 'link', 'set', nodes[i].port, 'up'),
    remove,
  };
}

function removeAll(namespaces, links) {
  for (const l of links) {
    try { ip('link', 'del', l); } catch { /* went with its namespace */ }
  }
  for (const ns of namespaces) {
    try { ip('netns', 'del', ns); } catch { /* never made */ }
  }
}

// Runs `cmd args` inside namespace `ns`; resolves with stdout.
export async function inNamespace(ns, cmd, args, { timeoutMs = 30000 } = {}) {
  const { stdout } = await execFile('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: timeoutMs });
  return stdout;
}
