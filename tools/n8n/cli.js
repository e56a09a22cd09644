#!/usr/bin/env node
'use strict';
// The n8n helpers from a shell. Usage: node tools/n8n/cli.js help

const path = require('node:path');
const {
  CACHE_DIR,
  DEFAULT_OWNER,
  DEFAULT_USER_FOLDER,
  N8N_VERSION,
  REPO_DIR,
  ensureOwner,
  importCredentials,
  importWorkflows,
  install,
  isAlive,
  keepRunning,
  packPackage,
  prepareUserFolder,
  publishWorkflow,
  readState,
  runCli,
  start,
  stop,
  tail,
  unpublishWorkflow,
  waitForExit,
} = require('./index.js');

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

const HELP = `Usage: node tools/n8n/cli.js <command> [options]
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
      keepRunning(n.pid);
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
      await waitForExit(n.pid);
      console.error(`n8n exited; log tail:\n${tail(n.logFile, 30)}`);
      process.exitCode = 1;
      break;
    }
    default:
      console.log(HELP);
      if (cmd && cmd !== 'help' && cmd !== '--help') process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
