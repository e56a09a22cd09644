'use strict';
// Credentials and workflows into a user folder with n8n's CLI (n8n stopped), and publishing them.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { n8nMajor } = require('./install.js');
const { mkTempDir, runCli } = require('./run.js');

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

module.exports = { importCredentials, importWorkflows, publishWorkflow, unpublishWorkflow };
