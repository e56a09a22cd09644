#!/usr/bin/env node
'use strict';
// Smoke test of the real-n8n harness (scripts/n8n/n8n.js) against a real n8n:
// core-node workflow over a production webhook, persistence across a restart,
// and a dummy community package installed from a tarball like n8n's UI does.
// Needs `npm run n8n:install` first. Run: node test/e2e/harness/smoke.e2e.js
// Set KEEP_N8N_HARNESS_TMP=1 to keep the temp user folder for inspection.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const n8n = require('../../../scripts/n8n/n8n.js');

const CORE_PATH = 'harness-smoke';
const DUMMY_PATH = 'harness-dummy';
const DUMMY_PKG = 'n8n-nodes-harness-dummy';

function coreWorkflow() {
  return {
    name: 'Harness smoke (core nodes)',
    active: true,
    nodes: [
      {
        id: 'a1b2c3d4-0000-4000-8000-000000000001',
        name: 'Webhook',
        type: 'n8n-nodes-base.webhook',
        typeVersion: 2.1,
        position: [0, 0],
        webhookId: 'c0ffee00-0000-4000-8000-000000000001',
        parameters: { httpMethod: 'POST', path: CORE_PATH, responseMode: 'responseNode', options: {} },
      },
      {
        id: 'a1b2c3d4-0000-4000-8000-000000000002',
        name: 'Edit Fields',
        type: 'n8n-nodes-base.set',
        typeVersion: 3.4,
        position: [220, 0],
        parameters: {
          assignments: {
            assignments: [
              { id: 'f1', name: 'name', value: '={{ $json.body.name }}', type: 'string' },
              { id: 'f2', name: 'n', value: '={{ $json.body.n }}', type: 'number' },
            ],
          },
          options: {},
        },
      },
      {
        id: 'a1b2c3d4-0000-4000-8000-000000000003',
        name: 'Code',
        type: 'n8n-nodes-base.code',
        typeVersion: 2,
        position: [440, 0],
        parameters: {
          jsCode:
            "return $input.all().map((i) => ({ json: { greeting: 'hello ' + i.json.name, doubled: i.json.n * 2 } }));",
        },
      },
      {
        id: 'a1b2c3d4-0000-4000-8000-000000000004',
        name: 'Respond to Webhook',
        type: 'n8n-nodes-base.respondToWebhook',
        typeVersion: 1.4,
        position: [660, 0],
        parameters: {
          respondWith: 'json',
          responseBody: '={{ JSON.stringify({ greeting: $json.greeting, doubled: $json.doubled, via: "n8n" }) }}',
          options: {},
        },
      },
    ],
    connections: {
      Webhook: { main: [[{ node: 'Edit Fields', type: 'main', index: 0 }]] },
      'Edit Fields': { main: [[{ node: 'Code', type: 'main', index: 0 }]] },
      Code: { main: [[{ node: 'Respond to Webhook', type: 'main', index: 0 }]] },
    },
    settings: { executionOrder: 'v1' },
  };
}

function dummyWorkflow() {
  return {
    name: 'Harness smoke (community node)',
    active: true,
    nodes: [
      {
        id: 'b1b2c3d4-0000-4000-8000-000000000001',
        name: 'Webhook',
        type: 'n8n-nodes-base.webhook',
        typeVersion: 2.1,
        position: [0, 0],
        webhookId: 'c0ffee00-0000-4000-8000-000000000002',
        parameters: { httpMethod: 'POST', path: DUMMY_PATH, responseMode: 'lastNode', options: {} },
      },
      {
        id: 'b1b2c3d4-0000-4000-8000-000000000002',
        name: 'Harness Dummy',
        type: `${DUMMY_PKG}.harnessDummy`,
        typeVersion: 1,
        position: [220, 0],
        parameters: { greeting: 'hi from a community node' },
      },
    ],
    connections: { Webhook: { main: [[{ node: 'Harness Dummy', type: 'main', index: 0 }]] } },
    settings: { executionOrder: 'v1' },
  };
}

// A minimal community package: one node, one runtime dependency (resolved by
// the npm install in the package folder) and a peer dependency on
// n8n-workflow (stripped, as n8n does, and resolved from n8n itself).
function makeDummyPackage(dir) {
  const pkgDir = path.join(dir, 'pkg');
  const nodeDir = path.join(pkgDir, 'dist', 'nodes', 'HarnessDummy');
  fs.mkdirSync(nodeDir, { recursive: true });
  fs.writeFileSync(
    path.join(pkgDir, 'package.json'),
    JSON.stringify(
      {
        name: DUMMY_PKG,
        version: '0.0.1',
        description: 'Harness smoke-test community node',
        license: 'MIT',
        keywords: ['n8n-community-node-package'],
        author: { name: 'Harness', email: 'harness@example.com' },
        main: 'index.js',
        files: ['dist'],
        n8n: { n8nNodesApiVersion: 1, credentials: [], nodes: ['dist/nodes/HarnessDummy/HarnessDummy.node.js'] },
        dependencies: { 'is-number': '7.0.0' },
        peerDependencies: { 'n8n-workflow': '*' },
      },
      null,
      2,
    ),
  );
  fs.writeFileSync(
    path.join(nodeDir, 'HarnessDummy.node.js'),
    `'use strict';
const isNumber = require('is-number');
const { NodeConnectionTypes } = require('n8n-workflow');
class HarnessDummy {
  constructor() {
    this.description = {
      displayName: 'Harness Dummy',
      name: 'harnessDummy',
      group: ['transform'],
      version: 1,
      description: 'Adds a greeting to each item',
      defaults: { name: 'Harness Dummy' },
      inputs: [NodeConnectionTypes.Main],
      outputs: [NodeConnectionTypes.Main],
      properties: [{ displayName: 'Greeting', name: 'greeting', type: 'string', default: 'hello' }],
    };
  }
  async execute() {
    const items = this.getInputData();
    return [items.map((item, i) => ({
      json: { greeting: this.getNodeParameter('greeting', i), nIsNumber: isNumber(item.json.body && item.json.body.n) },
    }))];
  }
}
module.exports = { HarnessDummy };
`,
  );
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: pkgDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return path.join(dir, JSON.parse(out.slice(out.indexOf('[')))[0].filename);
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const t0 = Date.now();
const log = (msg) => console.log(`  [${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-harness-smoke-'));
const userFolder = path.join(tmp, 'user');
let instance;

test('core workflow over a production webhook, data persists across restart, dummy community package loads', async () => {
  fs.mkdirSync(userFolder, { recursive: true });

  const tarball = makeDummyPackage(tmp);
  const installed = n8n.prepareUserFolder({ userFolder, tarball });
  log(`prepared user folder: ${installed.packageName}@${installed.version} -> ${installed.nodes.map((n) => n.type)}`);
  assert.deepEqual(installed.nodes.map((n) => n.type), [`${DUMMY_PKG}.harnessDummy`]);
  const ledger = JSON.parse(fs.readFileSync(path.join(userFolder, '.n8n', 'nodes', 'package.json'), 'utf8'));
  assert.equal(ledger.dependencies[DUMMY_PKG], '0.0.1');
  assert.ok(fs.existsSync(path.join(installed.packageDir, 'node_modules', 'is-number')), 'runtime dependency installed');
  assert.ok(!fs.existsSync(path.join(installed.packageDir, 'node_modules', 'n8n-workflow')), 'peer dependency stripped');

  const wfDir = path.join(tmp, 'workflows');
  fs.mkdirSync(wfDir);
  fs.writeFileSync(path.join(wfDir, 'core.json'), JSON.stringify(coreWorkflow()));
  fs.writeFileSync(path.join(wfDir, 'dummy.json'), JSON.stringify(dummyWorkflow()));
  n8n.importCredentials(userFolder, [
    { id: 'harnessCred00001', name: 'Harness Basic Auth', type: 'httpBasicAuth', data: { user: 'u', password: 'p' } },
  ]);
  const imported = n8n.importWorkflows(userFolder, wfDir);
  log(`imported + published: ${JSON.stringify(imported)}`);
  assert.equal(imported.length, 2);
  assert.ok(imported.every((w) => w.published));
  const coreId = imported.find((w) => w.name.includes('core')).id;
  const dummyId = imported.find((w) => w.name.includes('community')).id;

  instance = await n8n.start({ userFolder });
  log(`n8n started at ${instance.baseUrl} (pid ${instance.pid})`);
  const cookie = await n8n.ensureOwner(instance.baseUrl);

  await n8n.waitForWebhook(instance.baseUrl, CORE_PATH);
  log('core webhook registered');
  const r1 = await n8n.callWebhook(instance.baseUrl, CORE_PATH, { name: 'Ada', n: 21 });
  assert.equal(r1.status, 200, r1.text);
  assert.deepEqual(r1.body, { greeting: 'hello Ada', doubled: 42, via: 'n8n' });

  const execs = await n8n.waitForExecutions(instance.baseUrl, cookie, { workflowId: coreId });
  assert.equal(execs[0].status, 'success');
  assert.equal(execs[0].mode, 'webhook');
  const full = await n8n.getExecution(instance.baseUrl, cookie, execs[0].id);
  assert.equal(full.workflowId, coreId);

  const creds = await n8n.rest(instance.baseUrl, cookie, 'GET', '/rest/credentials');
  assert.ok(creds.some((c) => c.id === 'harnessCred00001' && c.type === 'httpBasicAuth'), 'credential imported');

  const types = await n8n.getNodeTypes(instance.baseUrl, cookie);
  assert.ok(types.some((t) => t.name === `${DUMMY_PKG}.harnessDummy`), 'dummy node listed in /types/nodes.json');
  const packages = await n8n.rest(instance.baseUrl, cookie, 'GET', '/rest/community-packages');
  const listed = packages.find((p) => p.packageName === DUMMY_PKG);
  assert.ok(listed, `package listed by /rest/community-packages: ${JSON.stringify(packages)}`);
  assert.ok(!listed.failedLoading, 'package not marked as failed');

  await n8n.waitForWebhook(instance.baseUrl, DUMMY_PATH);
  const r2 = await n8n.callWebhook(instance.baseUrl, DUMMY_PATH, { n: 5 });
  assert.equal(r2.status, 200, r2.text);
  assert.deepEqual(r2.body, { greeting: 'hi from a community node', nIsNumber: true });
  const dummyExecs = await n8n.waitForExecutions(instance.baseUrl, cookie, { workflowId: dummyId });
  assert.equal(dummyExecs[0].status, 'success');
  log('community node workflow ran');

  const baseUrl1 = instance.baseUrl;
  await instance.stop();
  instance = undefined;
  log('stopped; restarting with the same user folder');

  instance = await n8n.start({ userFolder });
  log(`n8n restarted at ${instance.baseUrl}`);
  assert.notEqual(instance.baseUrl, undefined);
  const cookie2 = await n8n.login(instance.baseUrl);
  const persisted = await n8n.listExecutions(instance.baseUrl, cookie2, { workflowId: coreId });
  assert.ok(persisted.some((e) => e.id === execs[0].id), 'execution from the first run persisted');
  await n8n.waitForWebhook(instance.baseUrl, CORE_PATH);
  const r3 = await n8n.callWebhook(instance.baseUrl, CORE_PATH, { name: 'Grace', n: 1 });
  assert.equal(r3.status, 200, r3.text);
  assert.deepEqual(r3.body, { greeting: 'hello Grace', doubled: 2, via: 'n8n' });
  await n8n.waitForExecutions(instance.baseUrl, cookie2, { workflowId: coreId, afterId: execs[0].id });
  await n8n.waitForWebhook(instance.baseUrl, DUMMY_PATH);
  const r4 = await n8n.callWebhook(instance.baseUrl, DUMMY_PATH, { n: 'x' });
  assert.deepEqual(r4.body, { greeting: 'hi from a community node', nIsNumber: false });
  log(`persistence OK (first run was ${baseUrl1})`);

  // Publishing through the REST API on a running n8n (no restart needed).
  await n8n.unpublishWorkflowRest(instance.baseUrl, cookie2, dummyId);
  await n8n.waitForWebhook(instance.baseUrl, DUMMY_PATH, { gone: true });
  const gone = await n8n.callWebhook(instance.baseUrl, DUMMY_PATH, { n: 1 });
  assert.equal(gone.status, 404, 'webhook unregistered after unpublish');
  const created = await n8n.createWorkflowRest(instance.baseUrl, cookie2, {
    ...coreWorkflow(),
    name: 'Harness smoke (created over REST)',
    nodes: coreWorkflow().nodes.map((nd) =>
      nd.type === 'n8n-nodes-base.webhook'
        ? { ...nd, webhookId: 'c0ffee00-0000-4000-8000-000000000003', parameters: { ...nd.parameters, path: 'harness-rest' } }
        : nd,
    ),
  });
  await n8n.publishWorkflowRest(instance.baseUrl, cookie2, created.id);
  await n8n.waitForWebhook(instance.baseUrl, 'harness-rest');
  const r5 = await n8n.callWebhook(instance.baseUrl, 'harness-rest', { name: 'Rest', n: 5 });
  assert.deepEqual(r5.body, { greeting: 'hello Rest', doubled: 10, via: 'n8n' });
  log('REST create/publish/unpublish OK');

  await instance.stop();
  instance = undefined;
  log('stopped');
});

(async () => {
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of tests) {
    console.log(`- ${name}`);
    try {
      await fn();
      passed++;
      console.log(`  ok`);
    } catch (e) {
      failed++;
      console.log(`  FAILED: ${e && e.stack ? e.stack : e}`);
      if (instance) console.log(`  n8n log: ${instance.logFile}`);
    }
  }
  if (instance) await instance.stop().catch(() => {});
  if (!process.env.KEEP_N8N_HARNESS_TMP && failed === 0) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`kept ${tmp}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
