/**
 * One real environment for the whole e2e run: redis-server, an SMTP server (test/harness/smtp.ts)
 * whose mails are written to files the test files read, an HTTP sink (the "sales team" endpoint),
 * and n8n 2.41 with this pack installed as a community package, the credentials imported under
 * fixed ids, and every example workflow (plus test/e2e/fixtures) imported with short windows and
 * published over REST. The state goes to a JSON file named by MA_E2E_STATE (test/e2e/support/env.ts).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'fs';
import { createServer, type Server } from 'http';
import { tmpdir } from 'os';
import { join } from 'path';
import { startRedis } from '../../harness/redis';
import { startSmtp } from '../../harness/smtp';
import { prepareWorkflows, SHARED_SECRET, SIGNING_SECRET, type E2EState } from './prepare';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const n8n = require('../../../scripts/n8n/n8n.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../../../scripts/examples.js');

const t0 = Date.now();
const log = (msg: string) => process.stdout.write(`[e2e setup ${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}\n`);

/** Records every request (JSON body) it gets; GET /__received lists them, DELETE clears. */
function startHttpSink(): Promise<{ server: Server; url: string }> {
	const received: unknown[] = [];
	const server = createServer((req, res) => {
		if (req.url === '/__received') {
			if (req.method === 'DELETE') received.length = 0;
			res.writeHead(200, { 'content-type': 'application/json' });
			res.end(JSON.stringify(received));
			return;
		}
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			const text = Buffer.concat(chunks).toString('utf8');
			let body: unknown = text;
			try {
				body = JSON.parse(text);
			} catch {
				// kept as text
			}
			received.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now() });
			res.writeHead(200, { 'content-type': 'application/json' });
			res.end('{"ok":true}');
		});
	});
	return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

export default async function globalSetup(): Promise<void> {
	const root = mkdtempSync(join(tmpdir(), 'ma-e2e-'));
	const userFolder = join(root, 'n8n');
	const mailDir = join(root, 'mail');
	mkdirSync(userFolder, { recursive: true });
	mkdirSync(mailDir, { recursive: true });
	log(`work dir ${root}`);

	n8n.install();
	log('n8n installed');
	// MA_E2E_NO_BUILD=1 packs the dist/ already built (quicker when iterating on tests).
	const tarball = n8n.packPackage(examples.REPO_DIR, { outDir: join(root, 'pack'), build: !process.env.MA_E2E_NO_BUILD });
	log(`packed ${tarball}`);

	// appendonly so the Redis restart test (if any) keeps data; n8n restarts never touch Redis.
	const redis = await startRedis();
	const smtp = await startSmtp();
	let seq = 0;
	const push = smtp.mails.push.bind(smtp.mails);
	// Tests run in other module registries: they read the mails from files.
	smtp.mails.push = (...mails) => {
		for (const m of mails) {
			const name = `${String(++seq).padStart(6, '0')}.json`;
			writeFileSync(join(mailDir, name), JSON.stringify({ envelope: m.envelope, raw: m.raw, headerLines: m.headerLines, receivedAt: Date.now() }));
		}
		return push(...mails);
	};
	const sink = await startHttpSink();
	log(`redis :${redis.port}, smtp :${smtp.port}, http sink ${sink.url}`);

	const port = await n8n.freePort();
	const baseUrl = `http://127.0.0.1:${port}`;
	const installed = n8n.prepareUserFolder({ userFolder, tarball });
	log(`installed ${installed.packageName}: ${installed.nodes.length} nodes`);

	const prepared = prepareWorkflows({ baseUrl, sinkUrl: sink.url, workDir: join(root, 'workflows') });
	const creds = [
		...examples.credentials({
			redis: { port: redis.port, keyPrefix: 'ma:' },
			smtp: { port: smtp.port },
			webhook: { sharedSecret: SHARED_SECRET },
			signingSecret: SIGNING_SECRET,
		}),
		...prepared.groups.flatMap((g) =>
			examples.credentials({
				redis: { port: redis.port, keyPrefix: g.keyPrefix },
				smtp: { port: smtp.port },
				webhook: { sharedSecret: SHARED_SECRET },
				signingSecret: SIGNING_SECRET,
				ids: { ...examples.CREDENTIAL_IDS, contactStore: g.credentialId },
				nameSuffix: ` (${g.name})`,
			})[0],
		),
	];
	n8n.importCredentials(userFolder, creds);
	const imported: Array<{ id: string; name: string }> = n8n.importWorkflows(userFolder, prepared.dir, { publish: false });
	log(`imported ${creds.length} credentials, ${imported.length} workflows`);

	const instance = await n8n.start({ userFolder, port });
	const cookie: string = await n8n.ensureOwner(instance.baseUrl);
	log(`n8n up at ${instance.baseUrl}`);

	const state: E2EState = {
		root,
		userFolder,
		baseUrl,
		port,
		cookie,
		redisPort: redis.port,
		smtpPort: smtp.port,
		mailDir,
		sinkUrl: sink.url,
		sharedSecret: SHARED_SECRET,
		signingSecret: SIGNING_SECRET,
		workflows: prepared.workflows,
		publishErrors: {},
	};
	// Publish every workflow now (tests assert it worked), then wait for their webhooks.
	for (const wf of prepared.workflows) {
		try {
			await n8n.publishWorkflowRest(baseUrl, cookie, wf.id);
		} catch (e) {
			state.publishErrors[wf.slug] = String((e as Error).message || e);
		}
	}
	for (const wf of prepared.workflows) {
		if (state.publishErrors[wf.slug]) continue;
		for (const hook of wf.webhooks) {
			await n8n.waitForWebhook(baseUrl, hook.path, { method: hook.method, timeoutMs: 60000 }).catch((e: Error) => {
				state.publishErrors[wf.slug] = `webhook ${hook.path}: ${e.message}`;
			});
		}
	}
	log(`published ${prepared.workflows.length - Object.keys(state.publishErrors).length}/${prepared.workflows.length}`);

	const stateFile = join(root, 'state.json');
	writeFileSync(stateFile, JSON.stringify(state, null, 2));
	process.env.MA_E2E_STATE = stateFile;
	(globalThis as Record<string, unknown>).__MA_E2E__ = { redis, smtp, sink, userFolder, root };
}
