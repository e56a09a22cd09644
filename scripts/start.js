#!/usr/bin/env node
'use strict';
// `npm start`: n8n with this pack, the example workflows and their credentials, on this machine.
// Installs what is missing (npm packages, redis-server, n8n), builds and packs the pack, starts
// Redis (data in .n8n-local/redis) unless REDIS_URL is given, a mail catcher (mails saved in
// .n8n-local/mail) unless SMTP_HOST is given, and n8n (data in .n8n-local/n8n). Ctrl-C stops all.
// Re-running reuses everything; the examples are imported on the first run only.
// Queue mode (`MA_QUEUE_MODE=1 npm start` or `npm start -- --queue`): n8n as production runs it,
// main + 2 workers + a webhook processor on Postgres with Bull on a Redis of its own (data in
// .n8n-local/queue); see docs/production.md.

const { execSync, spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { preferredOrFreePort } = require('../tools/ports.js');
const { installDependencies } = require('./system');

const ROOT = path.resolve(__dirname, '..');
const LOCAL = path.join(ROOT, '.n8n-local');
const USER_FOLDER = path.join(LOCAL, 'n8n');
const REDIS_DIR = path.join(LOCAL, 'redis');
const MAIL_DIR = path.join(LOCAL, 'mail');
const SECRETS_FILE = path.join(LOCAL, 'secrets.json');
const QUEUE_MODE = process.env.MA_QUEUE_MODE === '1' || process.argv.includes('--queue');
const QUEUE_DIR = path.join(LOCAL, 'queue');
// The hub every example sends events and tracking hits to; published so its URL answers at once.
const PUBLISH_ON_IMPORT = process.env.MA_PUBLISH_EXAMPLES === 'all' ? 'all' : 'hub';

const say = (msg) => console.log(`[start] ${msg}`);

function ensureInstalled() {
	if (!fs.existsSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'))) {
		say('installing npm dependencies ...');
		installDependencies(ROOT);
	}
	if (!process.env.REDIS_URL || QUEUE_MODE)
		execSync(`node ${JSON.stringify(path.join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
	if (QUEUE_MODE) execSync(`node ${JSON.stringify(path.join(__dirname, 'ensure-postgres.js'))}`, { stdio: 'inherit' });
	say('checking n8n (first install takes about 9 minutes) ...');
	// Its output passes through: the install's progress lines show.
	execSync(`bash ${JSON.stringify(path.join(ROOT, 'tools', 'n8n', 'install.sh'))}`, {
		stdio: ['ignore', 'inherit', 'inherit'],
	});
}

function secrets() {
	const known = fs.existsSync(SECRETS_FILE) ? JSON.parse(fs.readFileSync(SECRETS_FILE, 'utf8')) : {};
	const s = {
		signingSecret: crypto.randomBytes(32).toString('hex'),
		sharedSecret: crypto.randomBytes(16).toString('hex'),
		// Queue mode: every n8n process shares the key; Postgres's password.
		encryptionKey: crypto.randomBytes(24).toString('base64url'),
		postgresPassword: crypto.randomBytes(16).toString('hex'),
		...known,
	};
	if (Object.keys(s).length !== Object.keys(known).length) {
		fs.mkdirSync(LOCAL, { recursive: true });
		fs.writeFileSync(SECRETS_FILE, JSON.stringify(s, null, 2), { mode: 0o600 });
	}
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

async function startRedis(dir = REDIS_DIR, preferredPort = Number(process.env.MA_REDIS_PORT || 6390)) {
	fs.mkdirSync(dir, { recursive: true });
	const port = await preferredOrFreePort(preferredPort);
	const child = spawn(
		'redis-server',
		[
			'--port',
			String(port),
			'--bind',
			'127.0.0.1',
			'--dir',
			dir,
			'--appendonly',
			'yes',
			'--save',
			'60 1000',
			'--logfile',
			path.join(dir, 'redis.log'),
		],
		{ stdio: 'ignore' },
	);
	for (let i = 0; i < 100; i++) {
		if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') {
			return { host: '127.0.0.1', port, stop: () => stopChild(child) };
		}
		if (child.exitCode !== null) break;
		await new Promise((r) => setTimeout(r, 100));
	}
	throw new Error(`redis-server did not start on port ${port} (see ${path.join(dir, 'redis.log')})`);
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
	const n8n = require('../tools/n8n/index.js');
	const queueMode = require('../tools/n8n/queue.js');
	const examples = require('../examples/index.js');
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
			const local = await startRedis();
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
				port: await preferredOrFreePort(Number(process.env.MA_SMTP_PORT || 2525)),
				onMail: ({ file, to }) => say(`mail to ${to.join(', ')} saved as ${path.relative(ROOT, file)}`),
			});
			stops.push(catcher.stop);
			smtp = { host: '127.0.0.1', port: catcher.port, starttls: 'never' };
			say(`mail catcher on 127.0.0.1:${catcher.port}, mails saved in ${path.relative(ROOT, MAIL_DIR)}/`);
		}

		const { signingSecret, sharedSecret, encryptionKey, postgresPassword } = secrets();
		// Queue mode: Postgres and the queue's Redis first; CLI steps then run against Postgres.
		let folders;
		let shared;
		if (QUEUE_MODE) {
			const { startPostgres } = require('./postgres.js');
			const postgres = startPostgres({
				dir: process.env.MA_POSTGRES_DIR || path.join(QUEUE_DIR, 'postgres'),
				port: await preferredOrFreePort(Number(process.env.MA_POSTGRES_PORT || 5433)),
				password: postgresPassword,
			});
			stops.push(async () => postgres.stop());
			const queueRedis = await startRedis(
				path.join(QUEUE_DIR, 'queue-redis'),
				Number(process.env.MA_QUEUE_REDIS_PORT || 6391),
			);
			stops.push(queueRedis.stop);
			say(`queue mode: Postgres on 127.0.0.1:${postgres.port}, the queue's Redis on 127.0.0.1:${queueRedis.port}`);
			folders = queueMode.queueFolders(QUEUE_DIR);
			shared = { postgres, queueRedis, encryptionKey };
		}
		const userFolder = QUEUE_MODE ? folders.main : USER_FOLDER;
		const cliEnv = QUEUE_MODE ? queueMode.queueEnv({ ...shared, webhookUrl: '' }) : undefined;
		const examplesMarker = path.join(userFolder, 'examples-imported.json');

		// n8n must be stopped for the CLI steps; stop one left over from a run killed hard.
		if (QUEUE_MODE) await queueMode.stopQueueMode(folders);
		else await n8n.stop({ userFolder });
		say('installing the pack into n8n as a community package ...');
		if (QUEUE_MODE) queueMode.installPack(folders, tarball);
		else n8n.prepareUserFolder({ userFolder, tarball });
		// Re-imported every run (same ids), so they follow the Redis and SMTP of this run.
		n8n.importCredentials(userFolder, examples.credentials({ redis, smtp, webhook: { sharedSecret }, signingSecret }), {
			env: cliEnv,
		});
		const port = await preferredOrFreePort(Number(process.env.N8N_PORT || 5678));
		const webhookPort = QUEUE_MODE ? await preferredOrFreePort(Number(process.env.MA_WEBHOOK_PORT || 5680)) : port;
		if (!fs.existsSync(examplesMarker)) {
			say('importing the example workflows ...');
			let source = examples.EXAMPLES_DIR;
			if (QUEUE_MODE) {
				// Tracking links must reach the webhook processor: main serves no production webhooks.
				source = path.join(QUEUE_DIR, 'examples');
				fs.mkdirSync(source, { recursive: true });
				for (const e of examples.loadExamples()) {
					fs.writeFileSync(
						path.join(source, e.file),
						JSON.stringify(examples.localizeTrackingUrls(e.workflow, `http://127.0.0.1:${webhookPort}`)),
					);
				}
			}
			const imported = n8n.importWorkflows(userFolder, source, { publish: false, env: cliEnv });
			const hub = examples.loadExamples().find((e) => examples.triggerWebhookIds(e.workflow).length > 0);
			for (const wf of imported) {
				const isHub = hub && (hub.workflow.id === wf.id || hub.workflow.name === wf.name);
				if (PUBLISH_ON_IMPORT === 'all' || isHub) n8n.publishWorkflow(userFolder, wf.id, { env: cliEnv });
			}
			fs.writeFileSync(examplesMarker, JSON.stringify(imported, null, 2));
		}

		let instance;
		let webhookUrl;
		if (QUEUE_MODE) {
			say('starting n8n in queue mode: main, 2 workers, a webhook processor ...');
			const topology = await queueMode.startQueueMode({
				folders,
				shared,
				concurrency: 5,
				ports: { main: port, webhook: webhookPort },
			});
			stops.push(topology.stop);
			instance = topology.main;
			webhookUrl = topology.webhookUrl;
		} else {
			say('starting n8n ...');
			instance = await n8n.start({ userFolder, port });
			stops.push(() => instance.stop());
			webhookUrl = instance.baseUrl;
		}
		await n8n.ensureOwner(instance.baseUrl);
		// n8n answers before it has registered the published workflows' webhooks (2.x publishes them
		// in the background): the events URL is printed only once it answers (docs/production.md).
		say('waiting for the event hub webhook ...');
		await n8n.waitForWebhook(webhookUrl, 'ma-tracking/events', { timeoutMs: 180000 });
		const mode = QUEUE_MODE
			? `
  Queue mode: main (editor, triggers) ${instance.baseUrl}, webhook processor ${webhookUrl},
             2 workers; n8n logs in ${path.relative(ROOT, QUEUE_DIR)}/*/n8n.log`
			: '';

		console.log(`
  n8n ${n8n.N8N_VERSION} with n8n-nodes-marketing-automation is running.

  Editor:    ${instance.baseUrl}
  Log in:    ${n8n.DEFAULT_OWNER.email} / ${n8n.DEFAULT_OWNER.password}
  Events:    POST ${webhookUrl}/webhook/ma-tracking/events
             header X-Webhook-Secret: ${sharedSecret}
  Mails:     ${smtp.host === '127.0.0.1' && !process.env.SMTP_HOST ? `${path.relative(ROOT, MAIL_DIR)}/*.eml` : `${smtp.host}:${smtp.port}`}
  n8n log:   ${path.relative(ROOT, instance.logFile)}${mode}

  Example:   curl -X POST ${webhookUrl}/webhook/ma-tracking/events -H 'content-type: application/json' \\
               -H 'X-Webhook-Secret: ${sharedSecret}' \\
               -d '{"email":"ada@example.com","event":"newsletter_signup","fields":{"firstName":"Ada"}}'
             (publish "04 Welcome" in the editor first to get the welcome mails)

  Ctrl-C stops n8n${QUEUE_MODE ? ", Postgres, the queue's Redis" : ''}${process.env.REDIS_URL ? '' : ', Redis'}${process.env.SMTP_HOST ? '' : ' and the mail catcher'};
  so does n8n exiting by itself (start again with npm start: nothing is lost, data stays in .n8n-local).
`);
		// n8n runs detached; stay alive while it runs.
		await n8n.waitForExit(instance.pid);
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
