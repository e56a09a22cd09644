'use strict';
// n8n in queue mode, the topology production installs grow into: one main (editor, REST, triggers
// and pollers), workers that run the executions (`n8n worker`, Bull on Redis), and a webhook
// processor (`n8n webhook`) that serves the production webhooks, all on one Postgres database and
// one encryption key. Each process has a user folder of its own (as separate containers would),
// each with this pack installed in its nodes folder.
// The caller starts Postgres (scripts/postgres.js) and the Redis for the queue.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { freePort } = require('../ports.js');
const n8n = require('./index.js');

/** The user folders under `root`: main, worker-1..N, webhook. */
function queueFolders(root, workers = 2) {
  return {
    main: path.join(root, 'main'),
    workers: Array.from({ length: workers }, (_, i) => path.join(root, `worker-${i + 1}`)),
    webhook: path.join(root, 'webhook'),
  };
}

/**
 * Environment every process of the topology shares (CLI commands too: they must reach the same
 * database with the same key). `webhookUrl`: where production webhooks are served (the webhook
 * processor, or the load balancer in front of several).
 */
function queueEnv({ postgres, queueRedis, encryptionKey, webhookUrl, extra = {} }) {
  return {
    EXECUTIONS_MODE: 'queue',
    QUEUE_BULL_REDIS_HOST: queueRedis.host || '127.0.0.1',
    QUEUE_BULL_REDIS_PORT: String(queueRedis.port),
    ...(queueRedis.password ? { QUEUE_BULL_REDIS_PASSWORD: queueRedis.password } : {}),
    DB_TYPE: 'postgresdb',
    DB_POSTGRESDB_HOST: postgres.host,
    DB_POSTGRESDB_PORT: String(postgres.port),
    DB_POSTGRESDB_DATABASE: postgres.database,
    DB_POSTGRESDB_USER: postgres.user,
    DB_POSTGRESDB_PASSWORD: postgres.password,
    N8N_ENCRYPTION_KEY: encryptionKey,
    // Production webhooks are served by the webhook processor only, and the URLs n8n shows point there.
    N8N_DISABLE_PRODUCTION_MAIN_PROCESS: 'true',
    N8N_WEBHOOK_URL: webhookUrl,
    // Runs from the editor go to the workers too, so the main only runs triggers.
    OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS: 'true',
    ...extra,
  };
}

const newEncryptionKey = () => crypto.randomBytes(24).toString('base64url');

/**
 * Installs the pack tarball into every process's user folder: n8n's installer layout in the main's
 * folder, then the same nodes folder copied to the others (what a shared image or volume gives).
 */
function installPack(folders, tarball) {
  const info = n8n.prepareUserFolder({ userFolder: folders.main, tarball, register: false });
  const from = path.join(folders.main, '.n8n', 'nodes');
  for (const folder of [...folders.workers, folders.webhook]) {
    const to = path.join(folder, '.n8n', 'nodes');
    fs.rmSync(to, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.cpSync(from, to, { recursive: true });
  }
  return info;
}

/**
 * Starts main, then the workers and the webhook processor. `shared`: what queueEnv takes but the
 * webhook URL; `ports`: { main, webhook } (free ones unless given). Returns
 * { main, workers, webhook, baseUrl, webhookUrl, stop() }; on failure stops whatever it started
 * and throws.
 */
async function startQueueMode({ folders, shared, concurrency = 4, ports = {}, timeoutMs = 240000 }) {
  const mainPort = ports.main || (await freePort());
  let webhookPort = ports.webhook || (await freePort());
  while (webhookPort === mainPort) webhookPort = await freePort();
  const env = queueEnv({ ...shared, webhookUrl: `http://127.0.0.1:${webhookPort}/` });
  const started = [];
  const stop = async () => {
    // Webhook processor and workers first (they drain their running executions), then main.
    for (const proc of [...started].reverse()) await proc.stop({ timeoutMs: 30000 }).catch(() => undefined);
  };
  try {
    // Main first: it runs the database migrations the others wait for.
    const main = await n8n.start({ userFolder: folders.main, port: mainPort, env, timeoutMs });
    started.push(main);
    const others = await Promise.allSettled([
      ...folders.workers.map((userFolder) =>
        n8n.start({ userFolder, command: 'worker', args: [`--concurrency=${concurrency}`], env, timeoutMs }),
      ),
      n8n.start({ userFolder: folders.webhook, command: 'webhook', port: webhookPort, env, timeoutMs }),
    ]);
    for (const r of others) if (r.status === 'fulfilled') started.push(r.value);
    const failed = others.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const webhook = started[started.length - 1];
    return {
      main,
      workers: started.slice(1, -1),
      webhook,
      baseUrl: main.baseUrl,
      webhookUrl: webhook.baseUrl,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Stops every process of a topology started from these folders (possibly by another process). */
async function stopQueueMode(folders) {
  for (const userFolder of [folders.webhook, ...folders.workers, folders.main]) {
    await n8n.stop({ userFolder, timeoutMs: 30000 }).catch(() => undefined);
  }
}

module.exports = { queueFolders, queueEnv, newEncryptionKey, installPack, startQueueMode, stopQueueMode };
