'use strict';
// n8n's REST API and webhooks over HTTP: the owner login, workflows published on a running n8n,
// executions, node types, and calls to production webhooks.

const { setTimeout: sleep } = require('node:timers/promises');

const DEFAULT_OWNER = {
  email: 'owner@example.com',
  password: 'Harness-Passw0rd',
  firstName: 'Harness',
  lastName: 'Owner',
};
// Any constant works; n8n binds the auth cookie to it when sent at login.
const BROWSER_ID = 'n8n-harness';

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

module.exports = {
  DEFAULT_OWNER,
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
