#!/usr/bin/env node
'use strict';
// Real-n8n harness: pack this node pack, install it into an n8n user folder the
// way n8n's community-package installer does, import/publish workflows with
// n8n's CLI, start/stop n8n and talk to its REST API and webhooks.
// Plain CommonJS on Node's standard library only, so it runs under the
// machine's Node 20 while n8n itself runs under the Node install.sh chose.
// Drives n8n 2.x (the pinned default) and 1.x (N8N_VERSION=1.123.x, the oldest
// supported: docs/compatibility.md); where they differ, it asks which one is
// installed (n8nMajor).
// Usage: node scripts/n8n/n8n.js help

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { freePort } = require('../../tools/ports.js');
const os = require('node:os');
const path = require('node:path');

const N8N_VERSION = process.env.N8N_VERSION || '2.41.0';
const CACHE_DIR =
  process.env.N8N_CACHE_DIR || path.join(os.homedir(), '.cache', 'n8n-marketing-automation');
const REPO_DIR = path.resolve(__dirname, '..', '..');
const DEFAULT_USER_FOLDER = path.join(REPO_DIR, '.n8n-local');
const DEFAULT_OWNER = {
  email: 'owner@example.com',
  password: 'Harness-Passw0rd',
  firstName: 'Harness',
  lastName: 'Owner',
};
// Any constant works; n8n binds the auth cookie to it when sent at login.
const BROWSER_ID = 'n8n-harness';
const STATE_FILE = 'harness-state.json';

const started = new Set();
process.on('exit', () => {
  // Best effort: never leave an n8n started by this process behind.
  for (const pid of started) killGroup(pid, 'SIGKILL');
});

// ---------------------------------------------------------------- install

function resolveInstall() {
  const dir = path.join(CACHE_DIR, `n8n-${N8N_VERSION}`);
  const marker = path.join(dir, '.install-complete');
  if (!fs.existsSync(marker)) {
    throw new Error(
      `n8n ${N8N_VERSION} is not installed in ${dir}. Run: npm run n8n:install (bash scripts/n8n/install.sh)`,
    );
  }
  const info = Object.fromEntries(
    fs
      .readFileSync(marker, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { n8nDir: dir, n8nBin: info.N8N_BIN, nodeBin: info.NODE_BIN, version: info.N8N_VERSION };
}

/** The major version of the installed n8n (1 or 2). */
function n8nMajor() {
  return Number(resolveInstall().version.split('.')[0]);
}

function install() {
  const r = spawnSync('bash', [path.join(__dirname, 'install.sh')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`install.sh failed (exit ${r.status})`);
  return resolveInstall();
}

// ---------------------------------------------------------------- helpers

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: opts.timeoutMs || 10 * 60 * 1000,
    ...opts,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    const out = `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}, cwd ${opts.cwd || process.cwd()}):\n${out}`);
  }
  return r.stdout || '';
}

function mkTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function n8nFolder(userFolder) {
  // n8n keeps everything under <N8N_USER_FOLDER>/.n8n
  return path.join(path.resolve(userFolder), '.n8n');
}

function pathWithNode(nodeBin) {
  return `${path.dirname(nodeBin)}${path.delimiter}${process.env.PATH || ''}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function killGroup(pid, signal) {
  // n8n is started in its own process group so its task runners go with it.
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

function tail(file, lines = 60) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------- environment

/** Environment n8n is run with (server and CLI commands alike). */
function n8nEnv({ userFolder, port, brokerPort, env } = {}) {
  const { nodeBin } = resolveInstall();
  const folder = path.resolve(userFolder);
  const e = {
    ...process.env,
    PATH: pathWithNode(nodeBin),
    N8N_USER_FOLDER: folder,
    DB_TYPE: 'sqlite',
    DB_SQLITE_DATABASE: path.join(n8nFolder(folder), 'database.sqlite'),
    N8N_LISTEN_ADDRESS: '127.0.0.1',
    N8N_HOST: '127.0.0.1',
    N8N_PROTOCOL: 'http',
    N8N_RUNNERS_BROKER_LISTEN_ADDRESS: '127.0.0.1',
    N8N_UNVERIFIED_PACKAGES_ENABLED: 'true',
    N8N_COMMUNITY_PACKAGES_ENABLED: 'true',
    N8N_DIAGNOSTICS_ENABLED: 'false',
    N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
    N8N_PERSONALIZATION_ENABLED: 'false',
    N8N_TEMPLATES_ENABLED: 'false',
    N8N_HIRING_BANNER_ENABLED: 'false',
    N8N_DYNAMIC_BANNERS_ENABLED: 'false',
    N8N_SECURE_COOKIE: 'false',
    N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'true',
    N8N_LOG_OUTPUT: 'console',
    // Under jest NODE_ENV=test, and n8n then refuses to load nodes.
    NODE_ENV: 'production',
  };
  // The machine's npm config may set nodedir to Node 20 headers; n8n's npm calls must not inherit it.
  delete e.npm_config_nodedir;
  delete e.NODE_OPTIONS;
  // 2.x's mcp-registry only fetches a catalogue from api.n8n.io, which is unreachable here;
  // 1.x has no such module and refuses to start when an unknown one is named.
  if (n8nMajor() !== 1) e.N8N_DISABLED_MODULES = 'mcp-registry';
  if (port) {
    e.N8N_PORT = String(port);
    e.N8N_WEBHOOK_URL = `http://127.0.0.1:${port}/`;
    e.N8N_EDITOR_BASE_URL = `http://127.0.0.1:${port}/`;
  }
  if (brokerPort) e.N8N_RUNNERS_BROKER_PORT = String(brokerPort);
  return { ...e, ...(env || {}) };
}

/** Runs `n8n <args>` (a CLI command) against the user folder; returns its output. */
function runCli(userFolder, args, { env, timeoutMs } = {}) {
  const { n8nBin, nodeBin } = resolveInstall();
  fs.mkdirSync(n8nFolder(userFolder), { recursive: true });
  return run(nodeBin, [n8nBin, ...args], {
    cwd: path.resolve(userFolder),
    env: n8nEnv({ userFolder, env }),
    timeoutMs: timeoutMs || 5 * 60 * 1000,
  });
}

// ---------------------------------------------------------------- package

/** `npm run build` (optional) then `npm pack` into a temp dir; returns the tarball path. */
function packPackage(repoDir = REPO_DIR, { build = true, outDir } = {}) {
  const dest = outDir || mkTempDir('n8n-pack-');
  fs.mkdirSync(dest, { recursive: true });
  if (build) run('npm', ['run', 'build'], { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: repoDir });
  const info = JSON.parse(out.slice(out.indexOf('[')));
  return path.join(dest, info[0].filename);
}

function readTarballPackageJson(tarball) {
  const dir = mkTempDir('n8n-tgz-');
  try {
    run('tar', ['-xzf', path.resolve(tarball), '-C', dir, '--strip-components=1', 'package/package.json']);
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Installs a community-package tarball into <userFolder>/.n8n/nodes the way
 * n8n's installer (2.41's, and 1.123's alike) does for a package installed from its UI: unpack into
 * nodes/node_modules/<name>, drop dev/peer/optional deps, `npm install` there
 * with n8n's flags, record it in nodes/package.json, and (register: true)
 * write the installed_packages/installed_nodes rows n8n keeps in its DB.
 * n8n itself loads any nodes/node_modules/n8n-nodes-* (or @scope/n8n-nodes-*)
 * at start; the DB rows are what the Community nodes settings page lists.
 * Run it while n8n is stopped.
 */
function prepareUserFolder({ userFolder, tarball, register = true }) {
  const { nodeBin } = resolveInstall();
  const pkg = readTarballPackageJson(tarball);
  const bare = pkg.name.startsWith('@') ? pkg.name.split('/')[1] : pkg.name;
  if (!bare.startsWith('n8n-nodes-')) {
    throw new Error(`n8n only loads community packages named n8n-nodes-* or @scope/n8n-nodes-*; got ${pkg.name}`);
  }
  const nodesDir = path.join(n8nFolder(userFolder), 'nodes');
  const pkgDir = path.join(nodesDir, 'node_modules', pkg.name);
  fs.mkdirSync(nodesDir, { recursive: true });

  const ledgerPath = path.join(nodesDir, 'package.json');
  let ledger = { name: 'installed-nodes', private: true, dependencies: {} };
  if (fs.existsSync(ledgerPath)) {
    const existing = JSON.parse(fs.readFileSync(ledgerPath, 'utf8'));
    if (existing && existing.dependencies) ledger = existing;
  }

  fs.rmSync(pkgDir, { recursive: true, force: true });
  fs.mkdirSync(pkgDir, { recursive: true });
  run('tar', ['-xzf', path.resolve(tarball), '-C', pkgDir, '--strip-components=1']);
  const pkgJsonPath = path.join(pkgDir, 'package.json');
  const { devDependencies, peerDependencies, optionalDependencies, ...stripped } = JSON.parse(
    fs.readFileSync(pkgJsonPath, 'utf8'),
  );
  fs.writeFileSync(pkgJsonPath, JSON.stringify(stripped, null, 2));
  const npmEnv = { ...process.env, PATH: pathWithNode(nodeBin) };
  delete npmEnv.npm_config_nodedir;
  run(
    'npm',
    [
      'install',
      '--audit=false',
      '--fund=false',
      '--bin-links=false',
      '--install-strategy=shallow',
      '--ignore-scripts=true',
      '--package-lock=false',
    ],
    { cwd: pkgDir, env: npmEnv },
  );
  ledger.dependencies[pkg.name] = pkg.version;
  fs.writeFileSync(ledgerPath, JSON.stringify(ledger, null, 2));

  const result = { packageName: pkg.name, version: pkg.version, packageDir: pkgDir, nodes: [] };
  if (register) result.nodes = registerInstalledPackage(userFolder, pkgDir);
  return result;
}

/** Creates and migrates the SQLite DB if it does not exist yet (any CLI command does that). */
function ensureDatabase(userFolder) {
  if (fs.existsSync(path.join(n8nFolder(userFolder), 'database.sqlite'))) return;
  runCli(userFolder, ['list:workflow']);
}

// Runs under n8n's Node with n8n's modules: loads the package with n8n-core's
// own PackageDirectoryLoader (fails like n8n's install would) and writes the
// same rows n8n's InstalledPackagesRepository writes.
const REGISTER_SCRIPT = `
const [pkgDir, dbPath] = process.argv.slice(1);
const { PackageDirectoryLoader } = require('n8n-core');
const sqlite3 = require('sqlite3');
(async () => {
  const loader = new PackageDirectoryLoader(pkgDir);
  await loader.loadAll();
  if (loader.loadedNodes.length === 0) throw new Error('package contains no loadable nodes');
  const { name, version, author } = loader.packageJson;
  const nodes = loader.loadedNodes.map((n) => ({
    name: loader.nodeTypes[n.name].type.description.displayName,
    type: name + '.' + n.name,
    latestVersion: n.version,
  }));
  const db = new sqlite3.Database(dbPath);
  const q = (sql, params = []) => new Promise((res, rej) => db.run(sql, params, (e) => (e ? rej(e) : res())));
  await q('PRAGMA busy_timeout = 10000');
  await q('BEGIN');
  try {
    await q('DELETE FROM installed_nodes WHERE package = ?', [name]);
    await q('DELETE FROM installed_packages WHERE packageName = ?', [name]);
    await q('INSERT INTO installed_packages (packageName, installedVersion, authorName, authorEmail) VALUES (?, ?, ?, ?)',
      [name, version, author && author.name || null, author && author.email || null]);
    for (const n of nodes) {
      await q('INSERT INTO installed_nodes (name, type, latestVersion, package) VALUES (?, ?, ?, ?)',
        [n.name, n.type, n.latestVersion, name]);
    }
    await q('COMMIT');
  } catch (e) { await q('ROLLBACK'); throw e; }
  db.close();
  process.stdout.write(JSON.stringify(nodes));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
`;

function registerInstalledPackage(userFolder, pkgDir) {
  const { n8nDir, nodeBin } = resolveInstall();
  ensureDatabase(userFolder);
  const out = run(
    nodeBin,
    ['-e', REGISTER_SCRIPT, pkgDir, path.join(n8nFolder(userFolder), 'database.sqlite')],
    {
      // Resolve n8n-core, sqlite3 and the pack's peer n8n-workflow from n8n's install.
      cwd: path.join(n8nDir, 'node_modules', 'n8n'),
      env: {
        ...n8nEnv({ userFolder }),
        NODE_PATH: [path.join(n8nDir, 'node_modules', 'n8n', 'node_modules'), path.join(n8nDir, 'node_modules')].join(
          path.delimiter,
        ),
        N8N_LOG_LEVEL: 'error',
      },
    },
  );
  return JSON.parse(out.trim().split('\n').pop());
}

// ---------------------------------------------------------------- import / publish

/**
 * `n8n import:credentials` from a JSON file (one credential or an array), a
 * directory of such files, or the credentials themselves (object or array).
 * `data` may be plain JSON; n8n encrypts it with the user folder's key.
 */
function importCredentials(userFolder, source, { env } = {}) {
  let list;
  if (typeof source === 'string' && fs.statSync(source).isDirectory()) {
    list = fs
      .readdirSync(source)
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => [].concat(JSON.parse(fs.readFileSync(path.join(source, f), 'utf8'))));
  } else {
    list = [].concat(typeof source === 'string' ? JSON.parse(fs.readFileSync(source, 'utf8')) : source);
  }
  // Without --separate n8n wants one file holding an array.
  const tmp = mkTempDir('n8n-cred-');
  try {
    const file = path.join(tmp, 'credentials.json');
    fs.writeFileSync(file, JSON.stringify(list), { mode: 0o600 });
    return runCli(userFolder, ['import:credentials', `--input=${file}`], { env });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function newWorkflowId() {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.randomBytes(16), (b) => abc[b % abc.length]).join('');
}

/**
 * `n8n import:workflow --separate` for a workflow JSON file (object or array)
 * or a directory of *.json files. Workflows without an id get one, so they can
 * be published by id. publish: 'fromJson' (default) publishes those whose JSON
 * has "active": true; true publishes all; false none. `env`: extra environment
 * (another database, as in queue mode). Returns [{ id, name, published }].
 */
function importWorkflows(userFolder, dirOrFile, { publish = 'fromJson', env } = {}) {
  const src = path.resolve(dirOrFile);
  const files = fs.statSync(src).isDirectory()
    ? fs
        .readdirSync(src)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => path.join(src, f))
    : [src];
  const workflows = [];
  for (const f of files) {
    const data = JSON.parse(fs.readFileSync(f, 'utf8'));
    for (const wf of Array.isArray(data) ? data : [data]) {
      if (!wf || !Array.isArray(wf.nodes) || !wf.connections) throw new Error(`${f}: not an n8n workflow`);
      workflows.push({ ...wf, id: wf.id || newWorkflowId() });
    }
  }
  const tmp = mkTempDir('n8n-wf-');
  try {
    workflows.forEach((wf, i) => fs.writeFileSync(path.join(tmp, `${i}-${wf.id}.json`), JSON.stringify(wf)));
    // import:workflow always imports unpublished (its --activeState needs queue mode).
    runCli(userFolder, ['import:workflow', '--separate', `--input=${tmp}`], { env });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const result = [];
  for (const wf of workflows) {
    const doPublish = publish === true || (publish === 'fromJson' && wf.active === true);
    if (doPublish) publishWorkflow(userFolder, wf.id, { env });
    result.push({ id: wf.id, name: wf.name, published: doPublish });
  }
  return result;
}

/**
 * Publishes (activates) a workflow's current version with n8n's CLI: `publish:workflow` on 2.x
 * (where update:workflow --active is deprecated), `update:workflow --active=true` on 1.x, which
 * has no publish command. n8n must be (re)started after.
 */
function publishWorkflow(userFolder, id, { env } = {}) {
  if (n8nMajor() === 1) return runCli(userFolder, ['update:workflow', `--id=${id}`, '--active=true'], { env });
  return runCli(userFolder, ['publish:workflow', `--id=${id}`], { env });
}

function unpublishWorkflow(userFolder, id) {
  if (n8nMajor() === 1) return runCli(userFolder, ['update:workflow', `--id=${id}`, '--active=false']);
  return runCli(userFolder, ['unpublish:workflow', `--id=${id}`]);
}

// ---------------------------------------------------------------- start / stop

function stateFile(userFolder) {
  return path.join(path.resolve(userFolder), STATE_FILE);
}

function makeStopper(pid, userFolder) {
  return async ({ timeoutMs = 30000 } = {}) => {
    if (isAlive(pid)) {
      killGroup(pid, 'SIGTERM');
      const deadline = Date.now() + timeoutMs;
      while (isAlive(pid) && Date.now() < deadline) await sleep(200);
      if (isAlive(pid)) {
        killGroup(pid, 'SIGKILL');
        while (isAlive(pid)) await sleep(100);
      }
    }
    started.delete(pid);
    try {
      const st = JSON.parse(fs.readFileSync(stateFile(userFolder), 'utf8'));
      if (st.pid === pid) fs.rmSync(stateFile(userFolder), { force: true });
    } catch {}
  };
}

// What each n8n command logs once it is ready (after /healthz/readiness already answers 200).
const READY_LINE = {
  // readiness turns 200 before workflows are activated; this line comes after.
  start: 'Editor is now accessible',
  webhook: 'Webhook listener waiting for requests',
  worker: 'n8n worker is now ready',
};

/**
 * Starts `n8n start` (or command: 'worker' | 'webhook', with args such as
 * --concurrency=4) on 127.0.0.1 (free ports unless given), logging to
 * <userFolder>/n8n.log, and waits until /healthz/readiness answers and n8n
 * has finished starting. A worker serves /healthz on `port` (its health
 * server is switched on for that). One process per user folder.
 * Returns { baseUrl, port, brokerPort, pid, logFile, userFolder, stop }.
 */
async function start({ userFolder = DEFAULT_USER_FOLDER, port, brokerPort, env, command = 'start', args = [], timeoutMs = 180000 } = {}) {
  if (!READY_LINE[command]) throw new Error(`unknown n8n command ${command}: use start, worker or webhook`);
  const { n8nBin, nodeBin } = resolveInstall();
  const folder = path.resolve(userFolder);
  fs.mkdirSync(n8nFolder(folder), { recursive: true });
  const prev = readState(folder);
  if (prev && isAlive(prev.pid)) throw new Error(`n8n already running for ${folder} (pid ${prev.pid}, ${prev.baseUrl})`);
  port = port || (await freePort());
  brokerPort = brokerPort || (await freePort());
  while (brokerPort === port) brokerPort = await freePort();
  const logFile = path.join(folder, 'n8n.log');
  fs.appendFileSync(logFile, `\n===== harness ${command} ${new Date().toISOString()} port ${port} broker ${brokerPort}\n`);
  const logOffset = fs.statSync(logFile).size;
  const fd = fs.openSync(logFile, 'a');
  const healthServer =
    command === 'worker'
      ? { QUEUE_HEALTH_CHECK_ACTIVE: 'true', QUEUE_HEALTH_CHECK_PORT: String(port), N8N_WORKER_SERVER_ADDRESS: '127.0.0.1' }
      : {};
  const child = spawn(nodeBin, [n8nBin, command, ...args], {
    cwd: folder,
    env: n8nEnv({ userFolder: folder, port, brokerPort, env: { ...healthServer, ...env } }),
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  fs.closeSync(fd);
  const pid = child.pid;
  started.add(pid);
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  child.unref();
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = makeStopper(pid, folder);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      started.delete(pid);
      throw new Error(`n8n exited during start (${JSON.stringify(exited)}). Log tail (${logFile}):\n${tail(logFile)}`);
    }
    if (Date.now() > deadline) {
      await stop({ timeoutMs: 5000 });
      throw new Error(`n8n did not become ready within ${timeoutMs} ms. Log tail (${logFile}):\n${tail(logFile)}`);
    }
    const ready = await fetch(`${baseUrl}/healthz/readiness`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready && readLogSince(logFile, logOffset).includes(READY_LINE[command])) break;
    await sleep(250);
  }
  const state = { pid, baseUrl, port, brokerPort, logFile, userFolder: folder, startedAt: new Date().toISOString() };
  fs.writeFileSync(stateFile(folder), JSON.stringify(state, null, 2));
  return { ...state, stop };
}

function readLogSince(file, offset) {
  try {
    const fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    fs.readSync(fd, buf, 0, buf.length, offset);
    fs.closeSync(fd);
    return buf.toString('utf8');
  } catch {
    return '';
  }
}

function readState(userFolder) {
  try {
    return JSON.parse(fs.readFileSync(stateFile(userFolder), 'utf8'));
  } catch {
    return null;
  }
}

/** Stops an n8n started by `start` (possibly from another process) for this user folder. */
async function stop({ userFolder = DEFAULT_USER_FOLDER, timeoutMs = 30000 } = {}) {
  const st = readState(userFolder);
  if (!st) return false;
  await makeStopper(st.pid, path.resolve(userFolder))({ timeoutMs });
  return true;
}

// ---------------------------------------------------------------- HTTP

async function http(baseUrl, method, urlPath, { body, cookie, headers = {}, timeoutMs = 60000 } = {}) {
  const h = { 'browser-id': BROWSER_ID, ...headers };
  if (cookie) h.cookie = cookie;
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string' || Buffer.isBuffer(body)) payload = body;
    else {
      payload = JSON.stringify(body);
      h['content-type'] = h['content-type'] || 'application/json';
    }
  }
  const send = () =>
    fetch(new URL(urlPath, baseUrl), { method, headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
  // n8n closes idle keep-alive connections after 5 s; on a loaded machine a request can leave on
  // one it is closing ("other side closed", nothing received). A GET is safe to send again.
  const res = await send().catch((e) => {
    if (method !== 'GET' || !(e.cause && e.cause.code === 'UND_ERR_SOCKET')) throw e;
    return send();
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {}
  const setCookie = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
  return { status: res.status, headers: res.headers, text, body: json !== undefined ? json : text, setCookie };
}

function authCookie(res) {
  const c = res.setCookie.map((s) => s.split(';')[0]).find((s) => s.startsWith('n8n-auth='));
  if (!c) throw new Error(`no n8n-auth cookie in response (${res.status}): ${res.text.slice(0, 500)}`);
  return c;
}

/** Calls a REST endpoint (/rest/...) with the login cookie; throws on non-2xx; returns body.data when present. */
async function rest(baseUrl, cookie, method, urlPath, body) {
  const res = await http(baseUrl, method, urlPath, { cookie, body });
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`${method} ${urlPath} -> ${res.status}: ${res.text.slice(0, 1000)}`);
  }
  return res.body && typeof res.body === 'object' && 'data' in res.body ? res.body.data : res.body;
}

/** POST /rest/owner/setup (first start only); returns { cookie, user }. */
async function setupOwner(baseUrl, owner = DEFAULT_OWNER) {
  const o = { ...DEFAULT_OWNER, ...owner };
  const res = await http(baseUrl, 'POST', '/rest/owner/setup', {
    body: { email: o.email, password: o.password, firstName: o.firstName, lastName: o.lastName },
  });
  if (res.status !== 200) throw new Error(`owner setup failed (${res.status}): ${res.text.slice(0, 500)}`);
  return { cookie: authCookie(res), user: res.body.data };
}

/** POST /rest/login; returns the `n8n-auth=...` cookie string. */
async function login(baseUrl, email = DEFAULT_OWNER.email, password = DEFAULT_OWNER.password) {
  const res = await http(baseUrl, 'POST', '/rest/login', { body: { emailOrLdapLoginId: email, password } });
  if (res.status !== 200) throw new Error(`login failed (${res.status}): ${res.text.slice(0, 500)}`);
  return authCookie(res);
}

/** Owner setup if the instance has none yet, else login. Returns the cookie. */
async function ensureOwner(baseUrl, owner = DEFAULT_OWNER) {
  const o = { ...DEFAULT_OWNER, ...owner };
  const settings = await http(baseUrl, 'GET', '/rest/settings');
  const showSetup = settings.body && settings.body.data && settings.body.data.userManagement
    ? settings.body.data.userManagement.showSetupOnFirstLoad
    : true;
  if (showSetup) return (await setupOwner(baseUrl, o)).cookie;
  return await login(baseUrl, o.email, o.password);
}

/** Calls a production webhook: {method} {baseUrl}/webhook/<path>. Returns { status, headers, body, text }. */
async function callWebhook(baseUrl, webhookPath, body, { method = 'POST', headers, timeoutMs = 60000 } = {}) {
  return await http(baseUrl, method, `/webhook/${webhookPath.replace(/^\/+/, '')}`, { body, headers, timeoutMs });
}

/**
 * Waits until a production webhook is registered (or, with gone: true, no
 * longer registered), without running the workflow: a CORS preflight answers
 * 204 (listing the method) only for a registered path. Needed because 2.x (un)publishes workflows
 * asynchronously, both at start and through the REST API.
 */
async function waitForWebhook(baseUrl, webhookPath, { method = 'POST', timeoutMs = 60000, gone = false } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await http(baseUrl, 'OPTIONS', `/webhook/${webhookPath.replace(/^\/+/, '')}`, {
      headers: { origin: baseUrl, 'access-control-request-method': method },
    }).catch((e) => ({ status: 0, text: String(e) }));
    const allowed = last.headers && (last.headers.get('access-control-allow-methods') || '');
    const registered = last.status === 204 && allowed.split(/,\s*/).includes(method);
    // An unregistered path answers 404 or (n8n 2.41, with an Origin header) 500.
    if (gone ? last.status !== 0 && !registered : registered) return;
    await sleep(250);
  }
  throw new Error(
    `webhook ${method} /webhook/${webhookPath} still ${gone ? 'registered' : 'not registered'} after ${timeoutMs} ms (last: ${last && last.status} ${last && last.text})`,
  );
}

/** POST /rest/workflows: creates a workflow on a running n8n (unpublished); returns it (id, versionId, ...). */
async function createWorkflowRest(baseUrl, cookie, workflow) {
  const { id, active, activeVersionId, versionId, ...body } = workflow;
  return await rest(baseUrl, cookie, 'POST', '/rest/workflows', body);
}

/** Publishes (activates) the current version on a running n8n; takes effect without a restart. */
async function publishWorkflowRest(baseUrl, cookie, id) {
  const wf = await rest(baseUrl, cookie, 'GET', `/rest/workflows/${id}`);
  return await rest(baseUrl, cookie, 'POST', `/rest/workflows/${id}/activate`, { versionId: wf.versionId });
}

async function unpublishWorkflowRest(baseUrl, cookie, id) {
  return await rest(baseUrl, cookie, 'POST', `/rest/workflows/${id}/deactivate`, {});
}

/** GET /rest/executions (newest first). filter: { workflowId, status: ['success'], ... }. */
async function listExecutions(baseUrl, cookie, { limit = 50, ...filter } = {}) {
  const q = new URLSearchParams({ limit: String(limit), filter: JSON.stringify(filter) });
  const data = await rest(baseUrl, cookie, 'GET', `/rest/executions?${q}`);
  return data.results;
}

/** GET /rest/executions/:id (includes the run data as n8n's flatted string in .data). */
async function getExecution(baseUrl, cookie, id) {
  return await rest(baseUrl, cookie, 'GET', `/rest/executions/${id}`);
}

const FINISHED = new Set(['success', 'error', 'crashed', 'canceled']);

/**
 * Polls until `count` finished executions (of workflowId, if given, newer than
 * afterId, if given) exist; returns them newest first.
 */
async function waitForExecutions(baseUrl, cookie, { workflowId, afterId, count = 1, timeoutMs = 60000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let list = [];
  while (Date.now() < deadline) {
    list = await listExecutions(baseUrl, cookie, workflowId ? { workflowId } : {});
    const done = list.filter((e) => FINISHED.has(e.status) && (afterId === undefined || Number(e.id) > Number(afterId)));
    if (done.length >= count) return done;
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${count} finished execution(s); saw ${JSON.stringify(list.map((e) => [e.id, e.status]))}`);
}

/** The node types n8n serves to its editor (GET /types/nodes.json, needs the login cookie). */
async function getNodeTypes(baseUrl, cookie) {
  const res = await http(baseUrl, 'GET', '/types/nodes.json', { cookie });
  if (res.status !== 200) throw new Error(`GET /types/nodes.json -> ${res.status}`);
  return res.body;
}

// ---------------------------------------------------------------- CLI

function parseArgs(argv) {
  const opts = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) opts[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) opts[a.slice(2)] = argv[++i];
      else opts[a.slice(2)] = true;
    } else opts._.push(a);
  }
  return opts;
}

const HELP = `Usage: node scripts/n8n/n8n.js <command> [options]
  install                         install n8n ${N8N_VERSION} (+ a Node it supports) into ${CACHE_DIR}
  pack [--repo DIR] [--no-build]  npm run build + npm pack; prints the tarball path
  prepare --tarball FILE          install a community-package tarball into the user folder
  import-credentials FILE|DIR     n8n import:credentials
  import-workflows FILE|DIR [--publish all|none|fromJson]
  publish ID | unpublish ID       n8n publish:workflow / unpublish:workflow (1.x: update:workflow --active)
  start [--port N] [--owner]      start n8n in the background (--owner: create/login the default owner)
  stop | status
  up [--port N] [--no-build] [--credentials FILE|DIR] [--workflows FILE|DIR]
                                  pack this repo, prepare, import, start n8n in the foreground
                                  with the default owner; Ctrl-C stops it
  cli -- ARGS...                  run any n8n CLI command against the user folder
Common option: --user-folder DIR (default $N8N_USER_FOLDER or ${DEFAULT_USER_FOLDER})
Default owner: ${DEFAULT_OWNER.email} / ${DEFAULT_OWNER.password}`;

async function main(argv) {
  const [cmd, ...rest_] = argv;
  const dd = rest_.indexOf('--');
  const passthrough = dd >= 0 ? rest_.slice(dd + 1) : [];
  const opts = parseArgs(dd >= 0 ? rest_.slice(0, dd) : rest_);
  const userFolder = path.resolve(opts['user-folder'] || process.env.N8N_USER_FOLDER || DEFAULT_USER_FOLDER);
  const port = opts.port ? Number(opts.port) : undefined;
  switch (cmd) {
    case 'install':
      console.log(JSON.stringify(install(), null, 2));
      break;
    case 'pack':
      console.log(packPackage(path.resolve(opts.repo || REPO_DIR), { build: !opts['no-build'] }));
      break;
    case 'prepare':
      if (!opts.tarball) throw new Error('--tarball FILE is required');
      console.log(JSON.stringify(prepareUserFolder({ userFolder, tarball: opts.tarball }), null, 2));
      break;
    case 'import-credentials':
      process.stdout.write(importCredentials(userFolder, opts._[0]));
      break;
    case 'import-workflows': {
      const p = opts.publish === 'all' ? true : opts.publish === 'none' ? false : 'fromJson';
      console.log(JSON.stringify(importWorkflows(userFolder, opts._[0], { publish: p }), null, 2));
      break;
    }
    case 'publish':
      process.stdout.write(publishWorkflow(userFolder, opts._[0]));
      break;
    case 'unpublish':
      process.stdout.write(unpublishWorkflow(userFolder, opts._[0]));
      break;
    case 'cli':
      process.stdout.write(runCli(userFolder, passthrough));
      break;
    case 'start': {
      const n = await start({ userFolder, port });
      if (opts.owner) await ensureOwner(n.baseUrl);
      started.delete(n.pid); // keep it running after this CLI exits
      const { stop: _s, ...info } = n;
      console.log(JSON.stringify(info, null, 2));
      break;
    }
    case 'stop':
      console.log((await stop({ userFolder })) ? 'stopped' : 'not running');
      break;
    case 'status': {
      const st = readState(userFolder);
      console.log(st && isAlive(st.pid) ? JSON.stringify(st, null, 2) : 'not running');
      break;
    }
    case 'up': {
      const tarball = packPackage(path.resolve(opts.repo || REPO_DIR), { build: !opts['no-build'] });
      const info = prepareUserFolder({ userFolder, tarball });
      console.log(`installed ${info.packageName}@${info.version}: ${info.nodes.map((n) => n.type).join(', ')}`);
      if (opts.credentials) importCredentials(userFolder, opts.credentials);
      if (opts.workflows) importWorkflows(userFolder, opts.workflows);
      const n = await start({ userFolder, port });
      await ensureOwner(n.baseUrl);
      console.log(`n8n ${N8N_VERSION} running at ${n.baseUrl} (log ${n.logFile})`);
      console.log(`login: ${DEFAULT_OWNER.email} / ${DEFAULT_OWNER.password}. Ctrl-C to stop.`);
      const shutdown = async () => {
        await n.stop();
        process.exit(0);
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
      // The n8n child is unref'd, so keep this process alive while n8n runs.
      await new Promise((resolve) => {
        const t = setInterval(() => {
          if (!isAlive(n.pid)) {
            clearInterval(t);
            resolve();
          }
        }, 1000);
      });
      console.error(`n8n exited; log tail:\n${tail(n.logFile, 30)}`);
      process.exitCode = 1;
      break;
    }
    default:
      console.log(HELP);
      if (cmd && cmd !== 'help' && cmd !== '--help') process.exitCode = 2;
  }
}

module.exports = {
  N8N_VERSION,
  CACHE_DIR,
  DEFAULT_OWNER,
  DEFAULT_USER_FOLDER,
  resolveInstall,
  n8nMajor,
  install,
  n8nEnv,
  runCli,
  packPackage,
  prepareUserFolder,
  registerInstalledPackage,
  ensureDatabase,
  importCredentials,
  importWorkflows,
  publishWorkflow,
  unpublishWorkflow,
  start,
  stop,
  http,
  rest,
  setupOwner,
  login,
  ensureOwner,
  callWebhook,
  waitForWebhook,
  createWorkflowRest,
  publishWorkflowRest,
  unpublishWorkflowRest,
  listExecutions,
  getExecution,
  waitForExecutions,
  getNodeTypes,
};

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}
