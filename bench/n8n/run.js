#!/usr/bin/env node
'use strict';
// `npm run bench:n8n`: the hot-lead recipe (score events, grade, flag the leads that turn hot)
// inside a real n8n, built with this pack's Lead Score node vs the same logic from n8n core nodes
// only (Webhook, Code, Redis, If), in the same run on the same Redis. Events arrive in batches of
// BATCH per webhook call (one execution per batch), as a CRM or site would send them.
// Sizes: MA_BENCH_EVENTS (default 10000), MA_BENCH_BATCH (default 100).

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const n8n = require('../../scripts/n8n/n8n.js');
const examples = require('../../scripts/examples.js');

const EVENTS = Number(process.env.MA_BENCH_EVENTS || 10000);
const BATCH = Number(process.env.MA_BENCH_BATCH || 100);
const CONTACTS = 500;

const hot = JSON.parse(fs.readFileSync(path.join(examples.EXAMPLES_DIR, '21-hot-lead.json'), 'utf8'));
const scoreNode = hot.nodes.find((n) => n.name === 'Score');
const cs = { contactStoreApi: { id: 'benchContactStore', name: 'Contact Store (bench)' } };
const rc = { redis: { id: 'benchRedis000001', name: 'Redis (bench)' } };
const split = "return $json.body.events.map((e) => ({ json: { contactId: e.contactId, event: { name: e.event, properties: e.properties || {} } } }));";
const webhook = (p) => ({ name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [0, 0], webhookId: `bench-${p}`, parameters: { httpMethod: 'POST', path: p, responseMode: 'lastNode', responseData: 'noData', options: {} } });
const code = (name, js, x) => ({ name, type: 'n8n-nodes-base.code', typeVersion: 2, position: [x, 0], parameters: { jsCode: js } });
const chain = (names) => Object.fromEntries(names.slice(0, -1).map((n, i) => [n, { main: [[{ node: names[i + 1], type: 'main', index: 0 }]] }]));

const ours = {
  id: 'benchOursHotLead',
  name: 'Bench: hot lead with Lead Score',
  nodes: [webhook('bench-ours'), code('Split', split, 200), { ...scoreNode, position: [400, 0], credentials: cs }],
  connections: chain(['Webhook', 'Split', 'Score']),
  settings: { executionOrder: 'v1' },
};

// Same rules as the Score node of 21-hot-lead (no decay, no once-per-day: only cheaper for core).
const points = `const rules = { page_viewed: 5, demo_requested: 40, form_submitted: 15, $email_clicked: 5 };
return $input.all().map((item, i) => {
  const e = $('Split').all()[i].json;
  let add = rules[e.event.name] || 0;
  if (e.event.name === 'page_viewed' && String(e.event.properties.path || '').includes('/pricing')) add += 20;
  const before = Number(item.json.score || 0);
  const score = before + add;
  return { json: { contactId: e.contactId, score, turnedHot: before < 50 && score >= 50 } };
});`;
const core = {
  id: 'benchCoreHotLead',
  name: 'Bench: hot lead with core nodes',
  nodes: [
    webhook('bench-core'),
    code('Split', split, 200),
    { name: 'Get Score', type: 'n8n-nodes-base.redis', typeVersion: 1, position: [400, 0], credentials: rc, parameters: { operation: 'get', propertyName: 'score', key: '=bench:score:{{ $json.contactId }}', keyType: 'automatic', options: {} } },
    code('Add Points', points, 600),
    { name: 'Set Score', type: 'n8n-nodes-base.redis', typeVersion: 1, position: [800, 0], credentials: rc, parameters: { operation: 'set', key: '=bench:score:{{ $json.contactId }}', value: '={{ $json.score }}', keyType: 'string', expire: false } },
    {
      name: 'Turned Hot?', type: 'n8n-nodes-base.if', typeVersion: 2.2, position: [1000, 0],
      parameters: { conditions: { options: { caseSensitive: true, leftValue: '', typeValidation: 'loose', version: 2 }, conditions: [{ id: 'c1', leftValue: "={{ $('Add Points').item.json.turnedHot }}", rightValue: true, operator: { type: 'boolean', operation: 'true', singleValue: true } }], combinator: 'and' }, looseTypeValidation: true, options: {} },
    },
    { name: 'Flag Hot', type: 'n8n-nodes-base.redis', typeVersion: 1, position: [1200, 0], credentials: rc, parameters: { operation: 'set', key: "=bench:hot:{{ $('Add Points').item.json.contactId }}", value: '1', keyType: 'string', expire: false } },
  ],
  connections: chain(['Webhook', 'Split', 'Get Score', 'Add Points', 'Set Score', 'Turned Hot?', 'Flag Hot']),
  settings: { executionOrder: 'v1' },
};

function batches(prefix) {
  const out = [];
  for (let i = 0; i < EVENTS; i += BATCH) {
    out.push(Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, j) => {
      const k = i + j;
      const kind = k % 10 === 0 ? 'demo_requested' : 'page_viewed';
      return { contactId: `${prefix}${k % CONTACTS}`, event: kind, properties: { path: k % 7 === 0 ? '/pricing' : '/blog' } };
    }));
  }
  return out;
}

async function drive(baseUrl, cookie, hookPath, prefix) {
  const all = batches(prefix);
  // Warm-up (loads nodes, opens connections), not measured.
  await n8n.callWebhook(baseUrl, hookPath, { events: all[0].map((e) => ({ ...e, contactId: `warm-${e.contactId}` })) });
  const t0 = process.hrtime.bigint();
  for (const events of all) {
    const r = await n8n.callWebhook(baseUrl, hookPath, { events }, { timeoutMs: 120000 });
    if (r.status !== 200) {
      const [last] = await n8n.listExecutions(baseUrl, cookie, { limit: 1 });
      const detail = last ? await n8n.getExecution(baseUrl, cookie, last.id) : { data: '' };
      // Run data is a flatted array: its long strings hold the error message.
      let why = r.text.slice(0, 300);
      try {
        why = JSON.parse(String(detail.data)).filter((x) => typeof x === 'string' && / /.test(x) && x.length > 20).slice(0, 3).join(' | ');
      } catch {}
      throw new Error(`${hookPath}: ${r.status} ${why}`);
    }
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds: s, execPerSec: all.length / s, msPerEvent: (s * 1000) / EVENTS };
}

async function main() {
  n8n.install();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ma-bench-n8n-'));
  const userFolder = path.join(root, 'n8n');
  const port = await n8n.freePort();
  const redisDir = path.join(root, 'redis');
  fs.mkdirSync(redisDir);
  const redis = spawn('redis-server', ['--port', String(port + 1), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
  let instance;
  try {
    for (let i = 0; i < 50 && spawnSync('redis-cli', ['-p', String(port + 1), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 100));
    const tarball = n8n.packPackage(examples.REPO_DIR, { outDir: path.join(root, 'pack'), build: !process.env.MA_BENCH_NO_BUILD });
    n8n.prepareUserFolder({ userFolder, tarball });
    const [store] = examples.credentials({ redis: { port: port + 1, keyPrefix: 'bench:' }, smtp: { port: 25 }, webhook: { sharedSecret: 'x' }, signingSecret: 'bench-signing-secret-0123456789abcdef' });
    n8n.importCredentials(userFolder, [
      { ...store, id: cs.contactStoreApi.id, name: cs.contactStoreApi.name },
      { id: rc.redis.id, name: rc.redis.name, type: 'redis', data: { host: '127.0.0.1', port: port + 1, database: 0, password: '' } },
    ]);
    const wfDir = path.join(root, 'workflows');
    fs.mkdirSync(wfDir);
    fs.writeFileSync(path.join(wfDir, 'ours.json'), JSON.stringify(ours));
    fs.writeFileSync(path.join(wfDir, 'core.json'), JSON.stringify(core));
    n8n.importWorkflows(userFolder, wfDir, { publish: false });
    instance = await n8n.start({ userFolder, port, env: { EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'none', EXECUTIONS_DATA_SAVE_ON_PROGRESS: 'false' } });
    const cookie = await n8n.ensureOwner(instance.baseUrl);
    for (const id of [ours.id, core.id]) await n8n.publishWorkflowRest(instance.baseUrl, cookie, id);
    await n8n.waitForWebhook(instance.baseUrl, 'bench-ours');
    await n8n.waitForWebhook(instance.baseUrl, 'bench-core');
    // The recipe scores contacts the store already knows (its events come through the store).
    const { acquireStore, closeAllStores } = require('../../dist/lib');
    const lease = acquireStore({ host: '127.0.0.1', port: port + 1, keyPrefix: 'bench:' });
    for (const prefix of ['o', 'warm-o']) {
      const r = await lease.store.contacts.upsert(Array.from({ length: CONTACTS }, (_, i) => ({ id: `${prefix}${i}`, email: `${prefix}${i}@example.com` })));
      if (!r.every((x) => x.ok)) throw new Error('seeding contacts failed');
    }
    lease.release();
    await closeAllStores();
    console.log(`hot-lead recipe in n8n ${n8n.N8N_VERSION}: ${EVENTS} events, ${BATCH} per webhook call (${Math.ceil(EVENTS / BATCH)} executions), ${CONTACTS} contacts`);
    const a = await drive(instance.baseUrl, cookie, 'bench-ours', 'o');
    const b = await drive(instance.baseUrl, cookie, 'bench-core', 'c');
    const row = (name, r) => console.log(`  ${name.padEnd(34)} ${r.seconds.toFixed(1).padStart(7)} s  ${r.execPerSec.toFixed(1).padStart(7)} executions/s  ${r.msPerEvent.toFixed(3).padStart(8)} ms/event`);
    row('Lead Score node (this pack)', a);
    row('core nodes (Code, Redis, If)', b);
    console.log(`  ratio: ours ${(b.seconds / a.seconds).toFixed(2)}x faster per event (goal 20x)`);
    const hotOurs = spawnSync('redis-cli', ['-p', String(port + 1), 'eval', "return #redis.call('keys', 'bench:hot:*')", '0'], { encoding: 'utf8' }).stdout.trim();
    console.log(`  core flagged ${hotOurs} hot leads`);
  } finally {
    if (instance) await instance.stop();
    redis.kill('SIGTERM');
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
