'use strict';
// Running commands: a program to completion, and n8n's CLI against a user folder.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { n8nEnv, n8nFolder, resolveInstall } = require('./install.js');

/** Runs `cmd args` to completion; throws with the output's tail when it fails. Returns stdout. */
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

module.exports = { run, mkTempDir, runCli };
