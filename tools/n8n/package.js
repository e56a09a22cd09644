'use strict';
// This pack as n8n gets it: packed with npm, installed into a user folder as n8n's
// community-package installer does, and registered in n8n's database.

const fs = require('node:fs');
const path = require('node:path');
const { REPO_DIR, n8nEnv, n8nFolder, pathWithNode, resolveInstall } = require('./install.js');
const { mkTempDir, run, runCli } = require('./run.js');

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

module.exports = { packPackage, prepareUserFolder, ensureDatabase, registerInstalledPackage };
