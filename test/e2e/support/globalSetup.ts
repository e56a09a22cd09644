/**
 * One real environment for the whole e2e run: redis-server, an SMTP server (test/harness/smtp.ts)
 * whose mails are written to files the test files read, an HTTP sink (the "sales team" endpoint),
 * and n8n 2.41 with this pack installed as a community package, the credentials imported under
 * fixed ids, and every example workflow (plus test/e2e/fixtures) imported with short windows and
 * published over REST. The state goes to a JSON file named by MA_E2E_STATE (test/e2e/support/env.ts).
 *
 * In queue mode (test/e2e/queue/globalSetup.ts) the same, but n8n is the production topology
 * (tools/n8n/queue.js: main, 2 workers, a webhook processor, Postgres, a Redis for the queue)
 * and the contact store is a 3-master Redis Cluster; only the workflows its tests use are published.
 */
import { randomBytes } from 'crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { createServer, type Server } from 'http';
import { tmpdir } from 'os';
import { join } from 'path';
import { startCluster, startRedis } from '../../harness/redis';
import { startSmtp } from '../../harness/smtp';
import { freePort } from '../../../tools/ports';
import { prepareWorkflows, SHARED_SECRET, SIGNING_SECRET, type E2EState } from './prepare';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const n8n = require('../../../tools/n8n/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../../../examples/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const queueMode = require('../../../tools/n8n/queue.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startPostgres } = require('../../../scripts/postgres.js');

const t0 = Date.now();
const log = (msg: string) => process.stdout.write(`[e2e setup ${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}\n`);

/**
 * Records every request (JSON body) it gets; GET /__received lists them, DELETE clears. Answers
 * `{"ok":true}`, or what POST /__respond {pathPart, body} set for paths containing pathPart (an
 * enrichment service's answer, say).
 */
function startHttpSink(): Promise<{ server: Server; url: string }> {
	const received: unknown[] = [];
	const answers: Array<{ pathPart: string; body: unknown }> = [];
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
			if (req.url === '/__respond' && req.method === 'POST') {
				answers.unshift(body as { pathPart: string; body: unknown });
				res.writeHead(200, { 'content-type': 'application/json' });
				res.end('{"ok":true}');
				return;
			}
			received.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now() });
			const answer = answers.find((a) => String(req.url).includes(a.pathPart));
			res.writeHead(200, { 'content-type': 'application/json' });
			res.end(answer ? JSON.stringify(answer.body) : '{"ok":true}');
		});
	});
	return new Promise((resolve) =>
		server.listen(0, '127.0.0.1', () =>
			resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }),
		),
	);
}

/** What globalTeardown stops, in this order. */
export type Stopper = () => Promise<unknown> | unknown;

export interface QueueOptions {
	/** More fixture folders to import (and publish). */
	fixtureDirs: string[];
	/** The examples and fixtures to publish (by slug); the hub always is. */
	only: (slug: string) => boolean;
	/** `n8n worker --concurrency`. */
	concurrency: number;
	/** Extra environment for every n8n process (Bull lock and stall settings...). */
	env?: Record<string, string>;
}

export async function startE2E(queue?: QueueOptions): Promise<void> {
	const stops: Stopper[] = [];
	const root = mkdtempSync(join(tmpdir(), queue ? 'ma-e2e-queue-' : 'ma-e2e-'));
	// globalTeardown is not run when globalSetup throws: stop what was started here, then rethrow.
	(globalThis as Record<string, unknown>).__MA_E2E__ = { stops, root };
	try {
		await setUp(root, stops, queue);
	} catch (error) {
		await stopAll(stops, root);
		throw error;
	}
}

export async function stopAll(stops: Stopper[], root: string): Promise<void> {
	for (const stop of [...stops].reverse()) {
		try {
			await stop();
		} catch (e) {
			process.stderr.write(`e2e teardown: ${(e as Error).message}\n`);
		}
	}
	if (process.env.KEEP_E2E_TMP) process.stdout.write(`kept ${root}\n`);
	else rmSync(root, { recursive: true, force: true });
}

async function setUp(root: string, stops: Stopper[], queue?: QueueOptions): Promise<void> {
	const userFolder = join(root, 'n8n');
	const mailDir = join(root, 'mail');
	const filesDir = join(root, 'files');
	mkdirSync(userFolder, { recursive: true });
	mkdirSync(mailDir, { recursive: true });
	mkdirSync(filesDir, { recursive: true });
	log(`work dir ${root}`);

	n8n.install();
	log('n8n installed');
	// MA_E2E_NO_BUILD=1 packs the dist/ already built (quicker when iterating on tests).
	const tarball = n8n.packPackage(n8n.REPO_DIR, { outDir: join(root, 'pack'), build: !process.env.MA_E2E_NO_BUILD });
	log(`packed ${tarball}`);

	// The contact store: one redis-server, or in queue mode a 3-master Redis Cluster.
	let redisPort: number;
	let clusterNodes: string[] | undefined;
	if (queue) {
		const cluster = await startCluster();
		stops.push(() => cluster.stop());
		redisPort = cluster.nodes[0].port;
		clusterNodes = cluster.nodes.map((n) => `127.0.0.1:${n.port}`);
	} else {
		const redis = await startRedis();
		stops.push(() => redis.stop());
		redisPort = redis.port;
	}
	const smtp = await startSmtp();
	stops.push(() => smtp.stop());
	let seq = 0;
	const push = smtp.mails.push.bind(smtp.mails);
	// Tests run in other module registries: they read the mails from files.
	smtp.mails.push = (...mails) => {
		for (const m of mails) {
			const name = `${String(++seq).padStart(6, '0')}.json`;
			writeFileSync(
				join(mailDir, name),
				JSON.stringify({ envelope: m.envelope, raw: m.raw, headerLines: m.headerLines, receivedAt: Date.now() }),
			);
		}
		return push(...mails);
	};
	const sink = await startHttpSink();
	stops.push(() => new Promise<void>((resolve) => sink.server.close(() => resolve())));
	log(
		`contact store redis :${redisPort}${clusterNodes ? ` (cluster ${clusterNodes.join(',')})` : ''}, smtp :${smtp.port}, http sink ${sink.url}`,
	);

	const port = await freePort();
	let webhookPort = port;
	while (queue && webhookPort === port) webhookPort = await freePort();
	const baseUrl = `http://127.0.0.1:${port}`;
	const webhookUrl = `http://127.0.0.1:${webhookPort}`;

	// Queue mode: Postgres and the queue's Redis, each process's user folder with the pack.
	let shared: Record<string, unknown> | undefined;
	let cliEnv: Record<string, string> | undefined;
	let folders: { main: string; workers: string[]; webhook: string } | undefined;
	let importFolder = userFolder;
	if (queue) {
		// Beside the work dir, not in it: that one is private to root, and Postgres runs as the postgres user.
		const pgDir = mkdtempSync(join(tmpdir(), 'ma-e2e-postgres-'));
		stops.push(() => rmSync(pgDir, { recursive: true, force: true }));
		const postgres = startPostgres({
			dir: pgDir,
			port: await freePort(),
			password: randomBytes(12).toString('hex'),
			durable: false,
		});
		stops.push(() => postgres.stop());
		const queueRedis = await startRedis();
		stops.push(() => queueRedis.stop());
		shared = {
			postgres,
			queueRedis: { port: queueRedis.port },
			encryptionKey: queueMode.newEncryptionKey(),
			extra: queue.env,
		};
		cliEnv = queueMode.queueEnv({ ...shared, webhookUrl: `${webhookUrl}/` });
		folders = queueMode.queueFolders(userFolder);
		// Registered before anything starts: stops whatever runs in these folders, even half-started.
		stops.push(() => queueMode.stopQueueMode(folders));
		importFolder = folders!.main;
		const installed = queueMode.installPack(folders, tarball);
		log(
			`postgres :${postgres.port}, queue redis :${queueRedis.port}; installed ${installed.packageName} for main, ${folders!.workers.length} workers and the webhook processor`,
		);
	} else {
		stops.push(() => n8n.stop({ userFolder }));
		const installed = n8n.prepareUserFolder({ userFolder, tarball });
		log(`installed ${installed.packageName}: ${installed.nodes.length} nodes`);
	}

	// Tracking links point where webhooks are served.
	const prepared = prepareWorkflows({
		baseUrl: webhookUrl,
		sinkUrl: sink.url,
		workDir: join(root, 'workflows'),
		fixtureDirs: queue?.fixtureDirs,
		only: queue?.only,
	});
	const redis = { port: redisPort, clusterNodes };
	const creds = [
		...examples.credentials({
			redis: { ...redis, keyPrefix: 'ma:' },
			smtp: { port: smtp.port },
			webhook: { sharedSecret: SHARED_SECRET },
			signingSecret: SIGNING_SECRET,
		}),
		...prepared.groups.flatMap(
			(g) =>
				examples.credentials({
					redis: { ...redis, keyPrefix: g.keyPrefix },
					smtp: { port: smtp.port },
					webhook: { sharedSecret: SHARED_SECRET },
					signingSecret: SIGNING_SECRET,
					ids: { ...examples.CREDENTIAL_IDS, contactStore: g.credentialId },
					nameSuffix: ` (${g.name})`,
				})[0],
		),
	];
	n8n.importCredentials(importFolder, creds, { env: cliEnv });
	const imported: Array<{ id: string; name: string }> = n8n.importWorkflows(importFolder, prepared.dir, {
		publish: false,
		env: cliEnv,
	});
	log(`imported ${creds.length} credentials, ${imported.length} workflows`);

	if (queue) {
		const topology = await queueMode.startQueueMode({
			folders,
			shared,
			concurrency: queue.concurrency,
			ports: { main: port, webhook: webhookPort },
		});
		log(
			`n8n queue mode up: main ${topology.baseUrl}, webhook processor ${topology.webhookUrl}, workers pid ${topology.workers.map((w: { pid: number }) => w.pid).join(', ')}`,
		);
	} else {
		// Read/Write Files reach only this folder (the CSV import's files).
		await n8n.start({ userFolder, port, env: { N8N_RESTRICT_FILE_ACCESS_TO: filesDir } });
		log(`n8n up at ${baseUrl}`);
	}
	const cookie: string = await n8n.ensureOwner(baseUrl);

	const state: E2EState = {
		root,
		userFolder: importFolder,
		baseUrl,
		webhookUrl,
		port,
		cookie,
		redisPort,
		clusterNodes,
		smtpPort: smtp.port,
		mailDir,
		filesDir,
		sinkUrl: sink.url,
		sharedSecret: SHARED_SECRET,
		signingSecret: SIGNING_SECRET,
		workflows: prepared.workflows,
		publishErrors: {},
		// The environment the workers run with, so a test can start a killed one again.
		queue: folders && { folders, concurrency: queue!.concurrency, env: cliEnv! },
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
			await n8n.waitForWebhook(webhookUrl, hook.path, { method: hook.method, timeoutMs: 60000 }).catch((e: Error) => {
				state.publishErrors[wf.slug] = `webhook ${hook.path}: ${e.message}`;
			});
		}
	}
	log(`published ${prepared.workflows.length - Object.keys(state.publishErrors).length}/${prepared.workflows.length}`);

	const stateFile = join(root, 'state.json');
	writeFileSync(stateFile, JSON.stringify(state, null, 2));
	process.env.MA_E2E_STATE = stateFile;
}

export default async function globalSetup(): Promise<void> {
	await startE2E();
}
