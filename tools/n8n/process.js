'use strict';
// n8n processes: `n8n start` (or worker / webhook) in the background on free ports, ready when
// it says so, and stopped with its task runners (its own process group), also from another process
// through a state file in the user folder.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { freePort } = require('../ports.js');
const { REPO_DIR, n8nEnv, n8nFolder, resolveInstall } = require('./install.js');

const DEFAULT_USER_FOLDER = path.join(REPO_DIR, '.n8n-local');
const STATE_FILE = 'harness-state.json';

const started = new Set();
process.on('exit', () => {
  // Best effort: never leave an n8n started by this process behind.
  for (const pid of started) killGroup(pid, 'SIGKILL');
});

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

/** Resolves when the process `pid` has exited (polled each second). */
function waitForExit(pid) {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (!isAlive(pid)) {
        clearInterval(timer);
        resolve();
      }
    }, 1000);
  });
}

/** Keeps an n8n started by this process running after it exits (the CLI's `start`). */
function keepRunning(pid) {
  started.delete(pid);
}

module.exports = { DEFAULT_USER_FOLDER, start, stop, readState, isAlive, waitForExit, keepRunning, tail };
