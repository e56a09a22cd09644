#!/usr/bin/env node
'use strict';
/**
 * Manual smoke run of the example workflows in a real n8n 2.41 (not part of `npm test`; the e2e
 * suite is the real check). Needs `npm run n8n:install` and redis-server. Run:
 *   node test/examples/real-n8n.smoke.js [--tarball FILE]
 * Packs the committed HEAD (git archive, built in a temp folder, so the work tree and dist/ are not
 * touched) unless --tarball is given; starts redis-server, an SMTP sink and a capture server for the
 * HTTP Request nodes; imports short-window copies of every example (see `shorten`) with credentials
 * ma-contact-store / ma-smtp / ma-webhook; publishes them all; then drives the recipes through
 * POST /webhook/ma-tracking/events as a CRM or site would, and checks mails, HTTP calls and Redis.
 * Prints every check and exits 1 when one fails.
 */
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const n8n = require(path.join(REPO, 'scripts', 'n8n', 'n8n.js'));
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const Redis = require('ioredis');

const SECRET = 'smoke-secret';
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

function packHead(tmp) {
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  execFileSync('sh', ['-c', `git -C "${REPO}" archive HEAD | tar -x -C "${src}"`]);
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(src, 'node_modules'));
  return n8n.packPackage(src, { build: true, outDir: tmp });
}

/** The values each example's sticky note says to shorten, shortened (seconds instead of days). */
function shorten(wf, file, hooksUrl) {
  const text = JSON.stringify(wf).replaceAll('https://hooks.example.com', hooksUrl);
  const copy = JSON.parse(text);
  for (const node of copy.nodes) {
    const p = node.parameters;
    if (node.type === 'n8n-nodes-base.wait' && p.unit) {
      p.unit = 'seconds';
      // Recipe 24 waits past the 5 s machine window of the open it checks; 15 past a confirmation click.
      p.amount = file.startsWith('24-') ? 15 : file.startsWith('15-') ? 12 : Math.min(p.amount, 4);
    }
    if (node.name === 'Timing') for (const a of p.assignments.assignments) a.value = { dayReminderMinutes: 0.5, hourReminderMinutes: 0.25, surveyAfterMinutes: 0.2 }[a.name];
    if (node.type.endsWith('.engagementTagger')) p.boundaryDays = '0.0001, 0.0002';
    if (node.name === 'Not Opened for 6 Months') for (const c of p.conditions.condition) for (const k of ['days', 'fieldDays']) if (c[k]) c[k] = 0.0001;
  }
  return copy;
}

async function main() {
  const args = process.argv.slice(2);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ma-examples-smoke-'));
  const userFolder = path.join(tmp, 'user');
  fs.mkdirSync(userFolder);
  const tarball = args[0] === '--tarball' ? path.resolve(args[1]) : packHead(tmp);
  log('package', tarball);

  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const mails = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, cb) {
      simpleParser(stream).then((m) => (mails.push(Object.assign(m, { receivedAt: Date.now() })), cb()), cb);
    },
  });
  const smtpPort = await freePort();
  await new Promise((r) => smtp.listen(smtpPort, '127.0.0.1', r));
  const captured = [];
  const hooks = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      captured.push({ path: req.url, body: JSON.parse(body || '{}') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url === '/enrich' ? JSON.stringify({ company: 'Acme', industry: 'Toys', employees: 42, score: 88 }) : '{"ok":true}');
    });
  });
  const hookPort = await freePort();
  await new Promise((r) => hooks.listen(hookPort, '127.0.0.1', r));

  const wfDir = path.join(tmp, 'workflows');
  fs.mkdirSync(wfDir);
  const examples = path.join(REPO, 'example-workflows');
  for (const f of fs.readdirSync(examples).filter((x) => x.endsWith('.json'))) {
    fs.writeFileSync(path.join(wfDir, f), JSON.stringify(shorten(JSON.parse(fs.readFileSync(path.join(examples, f), 'utf8')), f, `http://127.0.0.1:${hookPort}`)));
  }
  n8n.prepareUserFolder({ userFolder, tarball });
  n8n.importCredentials(userFolder, [
    { id: 'ma-contact-store', name: 'Contact Store', type: 'contactStoreApi', data: { host: '127.0.0.1', port: redisPort, user: '', password: '', database: 0, tls: false, tlsSkipVerify: false, clusterNodes: '', keyPrefix: 'ex:', signingSecret: 'a-long-random-signing-secret-for-the-examples-smoke' } },
    { id: 'ma-smtp', name: 'Campaign SMTP', type: 'campaignSmtpApi', data: { host: '127.0.0.1', port: smtpPort, secure: false, starttls: 'never', user: '', password: '', poolSize: 2, ratePerSecond: 0, tlsSkipVerify: false } },
    { id: 'ma-webhook', name: 'Marketing Webhook', type: 'marketingWebhookApi', data: { sharedSecret: SECRET, sharedSecretHeader: 'X-Webhook-Secret' } },
  ]);
  const imported = n8n.importWorkflows(userFolder, wfDir, { publish: false });
  const instance = await n8n.start({ userFolder });
  log('n8n', instance.baseUrl, instance.logFile);
  const store = new Redis(redisPort, '127.0.0.1');
  const failures = [];
  const check = (ok, what) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures.push(what);
  };
  try {
    const { cookie } = await n8n.setupOwner(instance.baseUrl);
    const publishErrors = [];
    for (const wf of imported) await n8n.publishWorkflowRest(instance.baseUrl, cookie, wf.id).catch((e) => publishErrors.push(`${wf.name}: ${e.message}`));
    check(publishErrors.length === 0, `all ${imported.length} examples publish (activate) ${publishErrors.join('; ')}`);
    for (const p of ['ma-tracking/events', 'ma-run-christmas', 'ma-run-re-permission', 'ma-run-engagement-tiers', 'ma-run-newsletter']) await n8n.waitForWebhook(instance.baseUrl, p);
    await sleep(3000);

    const post = async (events) => {
      const res = await n8n.callWebhook(instance.baseUrl, 'ma-tracking/events', events, { headers: { 'X-Webhook-Secret': SECRET } });
      if (res.status !== 200 || JSON.parse(res.text).errors.length > 0) throw new Error(`events: ${res.status} ${res.text}`);
    };
    const run = (p) => n8n.callWebhook(instance.baseUrl, p, {});
    const to = (email, subject) => mails.filter((m) => m.to.text === email && (!subject || subject.test(m.subject)));
    const contact = async (id) => {
      const [key] = await store.keys(`ex:*:c:${id}`);
      return key ? store.hgetall(key) : {};
    };
    const fields = async (id) => {
      const [key] = await store.keys(`ex:*:c:${id}:f`);
      return key ? store.hgetall(key) : {};
    };

    // 6 webinar: long margins, runs beside the rest.
    const startsAt = new Date(Date.now() + 45000).toISOString();
    await post(['web1', 'web2'].map((n) => ({ email: `${n}@example.com`, event: 'webinar_registered', properties: { webinarId: 'w1', title: 'Redis for marketers', startsAt, joinUrl: 'https://example.com/join' } })));
    // 4 welcome (subscribes), loop pair, 24 interest tags.
    await post(['x1', 'x2', 'x3', 'p1', 'p2'].map((n) => ({ email: `${n}@example.com`, event: 'newsletter_signup', tags: n.startsWith('x') ? ['interest:toys'] : [], fields: { firstName: n, language: n === 'p1' ? 'de-AT' : 'en' } })));
    // 3 drip, 9 project survey, 11 lead magnet (m2 buys: goal), 12 trial, 7 lost opportunity, 18 topic
    await post([
      { email: 'drip@example.com', event: 'signed_up' },
      { email: 'proj@example.com', event: 'project_finished', properties: { projectId: 'P1', projectName: 'New roof' } },
      { email: 'm1@example.com', event: 'lead_magnet_downloaded', properties: { topic: 'composting' } },
      { email: 'm2@example.com', event: 'lead_magnet_downloaded', properties: { topic: 'composting' } },
      { email: 'trial@example.com', event: 'trial_started' },
      { email: 'opp@example.com', event: 'opportunity_lost' },
      ...[1, 2, 3].map((i) => ({ email: 'reader@example.com', event: 'article_read', properties: { topic: 'roses', article: `a${i}` } })),
    ]);
    setTimeout(() => post([{ email: 'm2@example.com', event: 'purchase', properties: {} }]).catch((e) => console.error(e)), 2000);
    // 10 pricing page: lead3 becomes a lead (25), then looks at the pricing page
    await post([{ email: 'lead3@example.com', event: 'form_submitted' }]);
    setTimeout(() => post([{ email: 'lead3@example.com', event: 'page_viewed', properties: { path: '/pricing' } }]).catch((e) => console.error(e)), 4000);
    // 21 hot lead; 19 NPS
    await post([
      { email: 'hot@example.com', event: 'demo_requested' },
      { email: 'hot@example.com', event: 'page_viewed', properties: { path: '/pricing' } },
      { email: 'happy@example.com', event: 'nps_submitted', properties: { score: 9 } },
      { email: 'sad@example.com', event: 'nps_submitted', properties: { score: 3 } },
    ]);
    // 25 stages -> 22 enrichment, 8 onboarding, 20 referral
    await post([{ email: 'ref1@example.com', event: 'purchase', properties: {} }]);
    await sleep(2000);
    await post([{ email: 'lead2@example.com', event: 'form_submitted', fields: { referredBy: 'ref1@example.com' } }]);
    await sleep(3000);
    await post([{ email: 'lead2@example.com', event: 'purchase', properties: {} }]);
    // 23 bookshop
    await post([{ email: 'book2@example.com', event: 'purchase', properties: { author: 'Jane Austen' } }]);
    for (let i = 0; i < 3; i++) {
      await post(['book1', 'book2'].map((n) => ({ email: `${n}@example.com`, event: 'page_viewed', properties: { author: 'Jane Austen', authorSlug: 'jane-austen' } })));
      await sleep(300);
    }
    // 5 abandoned cart
    await post([{ email: 'c1@example.com', event: 'cart_item_added', properties: { product: 'Teapot' } }, { email: 'c2@example.com', event: 'cart_item_added', properties: { product: 'Mug' } }]);
    await sleep(1500);
    await post([{ email: 'c2@example.com', event: 'order_completed' }]);
    // 24 seasonal: x1 buys, x2 never opens, x3 opens (after the machine window) and misses checkout
    await sleep(3000);
    check((await run('ma-run-christmas')).status === 200, '24: Run Now webhook answers 200');
    await sleep(1500);
    await post([{ email: 'x1@example.com', event: 'purchase', properties: {} }]);
    for (let i = 0; i < 50 && to('x3@example.com', /Christmas toys/).length === 0; i++) await sleep(200);
    const offer = to('x3@example.com', /Christmas toys/)[0];
    // Opens within 5 s of the send count as machine opens (scanners): open like a person, later.
    if (offer) await sleep(Math.max(0, offer.receivedAt + 6000 - Date.now()));
    const pixel = offer && /src="([^"]+\/t\/o\/[^"]+)"/.exec(offer.html || '')?.[1];
    const opened = pixel ? (await fetch(pixel, { headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0) Thunderbird/128' } })).status : 0;
    check(opened === 200, `24: open pixel of the offer answers 200 (got ${opened})`);
    await post([{ email: 'web1@example.com', event: 'webinar_attended', properties: { webinarId: 'w1' } }]);
    await sleep(14000);
    // One-click unsubscribe (RFC 8058) from the List-Unsubscribe header of x3's offer.
    const header = offer?.headerLines.find((h) => h.key === 'list-unsubscribe')?.line ?? '';
    const unsubscribeUrl = /<(http[^>]+)>/.exec(header)?.[1];
    const unsub = unsubscribeUrl ? (await fetch(unsubscribeUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' })).status : 0;
    check(unsub === 200, `List-Unsubscribe one-click POST answers 200 (got ${unsub})`);
    // 13 tiers -> 14 reactivation
    check((await run('ma-run-engagement-tiers')).status === 200, '13: Run Now webhook answers 200');
    await sleep(5000);
    // 15 re-permission: p1 confirms by clicking (after the machine window), p2 does nothing
    check((await run('ma-run-re-permission')).status === 200, '15: Run Now webhook answers 200');
    await sleep(6500);
    const ask = to('p1@example.com', /still want/)[0];
    const link = ask && /href="([^"]+\/t\/c\/[^"]+)"/.exec(ask.html || '')?.[1];
    const clicked = link ? (await fetch(link, { redirect: 'manual', headers: { 'user-agent': 'Mozilla/5.0 (Macintosh) Safari/605.1' } })).status : 0;
    check(clicked === 302, `15: tracked confirm link redirects (got ${clicked})`);
    // 16: the inactive customer ref1 clicks the reactivation mail (after the machine window)
    const reactivation = to('ref1@example.com', /what is new/)[0];
    const back = reactivation && /href="([^"]+\/t\/c\/[^"]+)"/.exec(reactivation.html || '')?.[1];
    if (reactivation) await sleep(Math.max(0, reactivation.receivedAt + 6000 - Date.now()));
    check(back ? (await fetch(back, { redirect: 'manual', headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux) Firefox/130' } })).status === 302 : false, '16: reactivation link redirects');
    // 26 newsletter by language (p1 is de-AT)
    check((await run('ma-run-newsletter')).status === 200, '26: Run Now webhook answers 200');
    await sleep(12000);

    check(to('drip@example.com', /Welcome aboard|Three tips|Two weeks/).length === 3, '3: drip mails day 1, 7, 14');
    check(to('proj@example.com', /New roof/).length === 1, '9: project survey');
    check(to('m1@example.com', /composting/).length === 6 && /GUIDE20/.test(to('m1@example.com', /offer/)[0]?.html ?? ''), '11: six topic mails ending with the offer');
    check(to('m2@example.com', /composting/).length < 6, `11: the buyer's series stopped (${to('m2@example.com', /composting/).length} mails)`);
    check(to('trial@example.com', /trial has started|Tutorial|trial going/).length === 4, '12: thank-you, two tutorials, feedback');
    check(to('opp@example.com', /others in your position|new since|another look/).length === 3, '7: nurture series');
    check(to('reader@example.com', /roses/).length === 3, '18: topic series after 3 articles');
    check(captured.some((c) => c.path === '/sales-alert' && c.body.email === 'lead3@example.com'), '10: pricing page visit by a lead alerts sales');
    check(captured.some((c) => c.path === '/support-task' && c.body.email === 'ref1@example.com'), '16: reaction of an inactive customer goes to support');
    check(to('p1@example.com', /Neu diese Woche/).length === 1 && to('p1@example.com', /New this week/).length === 0, '26: German edition to the de-AT contact');
    check(to('x1@example.com', /New this week/).length === 1 && to('x1@example.com', /Neu diese Woche/).length === 0, '26: English edition to the others');

    check(to('p1@example.com', /^Welcome to our newsletter/).length === 1, '4: welcome mail once');
    check(to('p1@example.com', /story behind/).length === 1 && to('p1@example.com', /first-order gift/).length === 1, '4: welcome series mails 2 and 3');
    const loopMails = to('p1@example.com', /white paper|newsletter\?/i).length;
    check(loopMails >= 1 && loopMails <= 3, `loop pair: bounded (${loopMails} loop mails to one contact)`);
    check(to('happy@example.com', /Thank you!/).length === 1 && to('happy@example.com', /We hear you/).length === 0, '19: NPS 9 gets the happy offer');
    check(to('sad@example.com', /We hear you/).length === 1 && to('sad@example.com', /What we changed/).length === 1, '19: NPS 3 gets the re-engagement series');
    check(captured.some((c) => c.path === '/hot-lead' && c.body.email === 'hot@example.com'), '21: hot lead notification posted');
    check((await fields('hot@example.com')).salesRep === 's:alice@example.com' || (await fields('hot@example.com')).salesRep === 's:bob@example.com', '21: sales rep stored');
    check((await fields('lead2@example.com')).company === 's:Acme', '22: enrichment stored');
    check(to('lead2@example.com', /first steps/).length === 1, '8: onboarding on becoming a customer');
    check(to('ref1@example.com', /25% off/).length === 1, '20: referrer rewarded');
    check((await contact('lead2@example.com')).lifecycleStage === 'customer', '25: lead -> customer');
    check(to('book1@example.com', /best of Jane Austen/).length === 1, '23: recommendation to the reader of the author');
    check(to('book2@example.com', /best of Jane Austen/).length === 0, '23: no recommendation to a buyer of the author');
    check(to('c1@example.com', /left something/).length === 1, '5: cart reminder without an order');
    check(to('c2@example.com', /left something/).length === 0, '5: no cart reminder after the order (goal)');
    check(['x1', 'x2', 'x3'].every((n) => to(`${n}@example.com`, /Christmas toys/).length === 1), '24: offer to every toy fan');
    check(to('x1@example.com', /few days left|stay in touch/).length === 0, '24: buyer stopped (goal)');
    check(to('x2@example.com', /stay in touch/).length === 1 && to('x2@example.com', /few days left/).length === 0, '24: never opened -> dormant workflow');
    check(to('x3@example.com', /few days left/).length === 1, '24: opened, no checkout -> reminder');
    check(to('x3@example.com', /stay in touch/).length === 0, '24: opener not moved to dormant');
    check((await contact('x3@example.com')).status === 'unsubscribed', 'one-click unsubscribe applied');
    check(to('x3@example.com', /still want/).length === 0, 'no mail after the unsubscribe');
    check(to('ref1@example.com', /what is new/).length === 1 && to('p1@example.com', /what is new/).length === 0, '13/14: inactive customers get the reactivation mail, others not');
    check((await contact('p1@example.com')).status === 'subscribed', '15: confirmed contact stays subscribed');
    check((await contact('p2@example.com')).status === 'unsubscribed', '15: unconfirmed contact unsubscribed after the deadline');
    check(['web1', 'web2'].every((n) => ['registered', 'Tomorrow', 'Starting soon'].every((s) => to(`${n}@example.com`, new RegExp(s)).length === 1)), '6: confirmation and both reminders');
    check(to('web1@example.com', /How was/).length === 1 && to('web2@example.com', /recording/).length === 1, '6: survey to the attendee, recording to the no-show');
    const executions = await n8n.listExecutions(instance.baseUrl, cookie, { limit: 100, status: ['error'] });
    const errors = executions.results ?? executions.data?.results ?? executions.data ?? executions;
    check(Array.isArray(errors) && errors.length === 0, `no failed executions (${Array.isArray(errors) ? errors.map((e) => e.workflowName).join(', ') : JSON.stringify(errors).slice(0, 200)})`);
  } finally {
    store.disconnect();
    await instance.stop();
    redis.kill();
    smtp.close();
    hooks.close();
  }
  console.log(failures.length === 0 ? `all checks passed (${mails.length} mails)` : `${failures.length} checks failed`);
  if (!process.env.KEEP_SMOKE_TMP) fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
