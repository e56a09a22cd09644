#!/usr/bin/env node
'use strict';
// `npm start`: n8n with this pack, the example workflows and their credentials, on this machine.
// Installs what is missing (npm packages, redis-server, n8n), builds and packs the pack, starts
// Redis (data in .n8n-local/redis) unless REDIS_URL is given, a mail catcher (mails saved in
// .n8n-local/mail) unless SMTP_HOST is given, and n8n (data in .n8n-local/n8n). Ctrl-C stops all.
// Re-running reuses everything; the examples are imported on the first run only.

const { execSync, spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const LOCAL = path.join(ROOT, '.n8n-local');
const USER_FOLDER = path.join(LOCAL, 'n8n');
const REDIS_DIR = path.join(LOCAL, 'redis');
const MAIL_DIR = path.join(LOCAL, 'mail');
const SECRETS_FILE = path.join(LOCAL, 'secrets.json');
const EXAMPLES_MARKER = path.join(USER_FOLDER, 'examples-imported.json');
// The hub every example sends events and tracking hits to; published so its URL answers at once.
const PUBLISH_ON_IMPORT = process.env.MA_PUBLISH_EXAMPLES === 'all' ? 'all' : 'hub';

const say = (msg) => console.log(`[start] ${msg}`);

function ensureInstalled() {
  if (!fs.existsSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'))) {
    say('installing npm dependencies ...');
    execSync(fs.existsSync(path.join(ROOT, 'package-lock.json')) ? 'npm ci' : 'npm install', { cwd: ROOT, stdio: 'inherit' });
  }
  if (!process.env.REDIS_URL) execSync(`node ${JSON.stringify(path.join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
  say('checking n8n (first install takes about 9 minutes) ...');
  // Its progress lines show, as the first install takes about 10 minutes.
  execSync(`bash ${JSON.stringify(path.join(__dirname, 'n8n', 'install.sh'))}`, { stdio: ['ignore', 'inherit', 'inherit'] });
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function pickPort(preferred, n8n) {
  return (await portFree(preferred)) ? preferred : await n8n.freePort();
}

function secrets() {
  if (fs.existsSync(SECRETS_FILE)) return JSON.parse(fs.readFileSync(SECRETS_FILE, 'utf8'));
  const s = { signingSecret: crypto.randomBytes(32).toString('hex'), sharedSecret: crypto.randomBytes(16).toString('hex') };
  fs.mkdirSync(LOCAL, { recursive: true });
  fs.writeFileSync(SECRETS_FILE, JSON.stringify(s, null, 2), { mode: 0o600 });
  return s;
}

function redisFromUrl(url) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    user: decodeURIComponent(u.username || ''),
    password: decodeURIComponent(u.password || ''),
    database: Number((u.pathname || '/0').slice(1) || 0),
    tls: u.protocol === 'rediss:',
  };
}

async function startRedis(n8n) {
  fs.mkdirSync(REDIS_DIR, { recursive: true });
  const port = await pickPort(Number(process.env.MA_REDIS_PORT || 6390), n8n);
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', REDIS_DIR, '--appendonly', 'yes', '--save', '60 1000', '--logfile', path.join(REDIS_DIR, 'redis.log')],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') {
      return { host: '127.0.0.1', port, stop: () => stopChild(child) };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server did not start on port ${port} (see ${path.join(REDIS_DIR, 'redis.log')})`);
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function main() {
  ensureInstalled();
  const n8n = require('./n8n/n8n.js');
  const examples = require('./examples.js');
  const { startMailCatcher } = require('./mail-catcher.js');
  const stops = [];
  let stopping = false;
  const shutdown = async (code) => {
    if (stopping) return;
    stopping = true;
    say('stopping ...');
    // n8n first (it may still be sending), then the mail catcher and Redis.
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));

  try {
    say('building and packing the pack ...');
    const tarball = n8n.packPackage(ROOT, { outDir: path.join(LOCAL, 'pack') });

    let redis;
    if (process.env.REDIS_URL) {
      redis = redisFromUrl(process.env.REDIS_URL);
      say(`using Redis at ${redis.host}:${redis.port} (REDIS_URL)`);
    } else {
      const local = await startRedis(n8n);
      stops.push(local.stop);
      redis = local;
      say(`Redis on 127.0.0.1:${redis.port}, data in ${path.relative(ROOT, REDIS_DIR)}/`);
    }

    let smtp;
    if (process.env.SMTP_HOST) {
      smtp = {
        host: process.env.SMTP_HOST,
        port: Number(process.env.SMTP_PORT || 587),
        user: process.env.SMTP_USER || '',
        password: process.env.SMTP_PASSWORD || '',
        secure: process.env.SMTP_SECURE === 'true',
        starttls: 'auto',
      };
      say(`sending mail through ${smtp.host}:${smtp.port} (SMTP_HOST)`);
    } else {
      const catcher = await startMailCatcher({
        dir: MAIL_DIR,
        port: await pickPort(Number(process.env.MA_SMTP_PORT || 2525), n8n),
        onMail: ({ file, to }) => say(`mail to ${to.join(', ')} saved as ${path.relative(ROOT, file)}`),
      });
      stops.push(catcher.stop);
      smtp = { host: '127.0.0.1', port: catcher.port, starttls: 'never' };
      say(`mail catcher on 127.0.0.1:${catcher.port}, mails saved in ${path.relative(ROOT, MAIL_DIR)}/`);
    }

    // n8n must be stopped for the CLI steps; stop one left over from a run killed hard.
    await n8n.stop({ userFolder: USER_FOLDER });
    say('installing the pack into n8n as a community package ...');
    n8n.prepareUserFolder({ userFolder: USER_FOLDER, tarball });
    const { signingSecret, sharedSecret } = secrets();
    // Re-imported every run (same ids), so they follow the Redis and SMTP of this run.
    n8n.importCredentials(USER_FOLDER, examples.credentials({ redis, smtp, webhook: { sharedSecret }, signingSecret }));
    if (!fs.existsSync(EXAMPLES_MARKER)) {
      say('importing the example workflows ...');
      const imported = n8n.importWorkflows(USER_FOLDER, examples.EXAMPLES_DIR, { publish: false });
      const hub = examples.loadExamples().find((e) => examples.triggerWebhookIds(e.workflow).length > 0);
      for (const wf of imported) {
        const isHub = hub && (hub.workflow.id === wf.id || hub.workflow.name === wf.name);
        if (PUBLISH_ON_IMPORT === 'all' || isHub) n8n.publishWorkflow(USER_FOLDER, wf.id);
      }
      fs.writeFileSync(EXAMPLES_MARKER, JSON.stringify(imported, null, 2));
    }

    const port = await pickPort(Number(process.env.N8N_PORT || 5678), n8n);
    say('starting n8n ...');
    const instance = await n8n.start({ userFolder: USER_FOLDER, port });
    stops.push(() => instance.stop());
    await n8n.ensureOwner(instance.baseUrl);

    console.log(`
  n8n ${n8n.N8N_VERSION} with n8n-nodes-marketing-automation is running.

  Editor:    ${instance.baseUrl}
  Log in:    ${n8n.DEFAULT_OWNER.email} / ${n8n.DEFAULT_OWNER.password}
  Events:    POST ${instance.baseUrl}/webhook/ma-tracking/events
             header X-Webhook-Secret: ${sharedSecret}
  Mails:     ${smtp.host === '127.0.0.1' && !process.env.SMTP_HOST ? `${path.relative(ROOT, MAIL_DIR)}/*.eml` : `${smtp.host}:${smtp.port}`}
  n8n log:   ${path.relative(ROOT, instance.logFile)}

  Example:   curl -X POST ${instance.baseUrl}/webhook/ma-tracking/events -H 'content-type: application/json' \\
               -H 'X-Webhook-Secret: ${sharedSecret}' \\
               -d '{"email":"ada@example.com","event":"newsletter_signup","fields":{"firstName":"Ada"}}'
             (publish "04 Welcome" in the editor first to get the welcome mails)

  Ctrl-C stops n8n${process.env.REDIS_URL ? '' : ', Redis'}${process.env.SMTP_HOST ? '' : ' and the mail catcher'}.
`);
    // n8n runs detached; stay alive while it runs.
    await new Promise((resolve) => {
      const t = setInterval(() => {
        try {
          process.kill(instance.pid, 0);
        } catch {
          clearInterval(t);
          resolve();
        }
      }, 1000);
    });
    if (!stopping) {
      console.error(`n8n exited unexpectedly; see ${instance.logFile}`);
      await shutdown(1);
    }
  } catch (e) {
    console.error(e && e.stack ? e.stack : e);
    await shutdown(1);
  }
}

main();
