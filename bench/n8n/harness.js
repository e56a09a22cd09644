'use strict';
// The setup the benches in a real n8n share (run.js, browser.js, csv-import.js), on the helpers of
// tools/n8n: a scratch folder, a redis-server of the bench's own, this pack packed from the working
// tree (built first unless MA_BENCH_NO_BUILD=1) and installed into a new n8n user folder; then
// credentials and workflows imported with n8n's CLI, n8n started, its owner set up, the workflows
// published and their webhooks listening. `stop` ends n8n and Redis and removes the folder (kept
// with MA_BENCH_KEEP=1).

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const n8n = require('../../tools/n8n/index.js');
const examples = require('../../examples/index.js');
const { freePort } = require('../../tools/ports.js');

function redisCli(port, ...args) {
	return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();
}

/** A redis-server on a free port of 127.0.0.1 that keeps nothing on disk; resolves once it answers. */
async function startRedis(dir) {
	fs.mkdirSync(dir, { recursive: true });
	const port = await freePort();
	const server = spawn(
		'redis-server',
		['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
		{ stdio: 'ignore' },
	);
	const stop = () => server.kill('SIGTERM');
	for (let i = 0; i < 50; i++) {
		if (redisCli(port, 'ping') === 'PONG') return { port, stop };
		await new Promise((r) => setTimeout(r, 100));
	}
	stop();
	throw new Error(`redis-server did not answer on port ${port} within 5 s`);
}

/** n8n's environment for a V8 CPU profile written to `dir` when it stops (none without a dir). */
function cpuProfileEnv(dir) {
	if (!dir) return {};
	const resolved = path.resolve(dir);
	fs.mkdirSync(resolved, { recursive: true });
	return { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${resolved}` };
}

/**
 * Prepares a bench: `name` names its scratch folder (`ma-bench-<name>-*` in the system's temporary
 * folder). Returns the folder, the Redis port, `credentials` (the examples' credentials pointing
 * at this Redis), `startN8n` and `stop`.
 */
async function prepareBench(name) {
	n8n.install();
	const root = fs.mkdtempSync(path.join(os.tmpdir(), `ma-bench-${name}-`));
	const userFolder = path.join(root, 'n8n');
	let redis;
	let instance;
	const stop = async () => {
		if (instance) await instance.stop();
		if (redis) redis.stop();
		if (!process.env.MA_BENCH_KEEP) fs.rmSync(root, { recursive: true, force: true });
	};
	try {
		redis = await startRedis(path.join(root, 'redis'));
		const tarball = n8n.packPackage(n8n.REPO_DIR, {
			outDir: path.join(root, 'pack'),
			build: !process.env.MA_BENCH_NO_BUILD,
		});
		n8n.prepareUserFolder({ userFolder, tarball });
	} catch (error) {
		await stop();
		throw error;
	}
	return {
		root,
		redisPort: redis.port,
		/** examples.credentials() on this Redis: [Contact Store, Campaign SMTP (port 25), Marketing Webhook]. */
		credentials: ({ keyPrefix, sharedSecret = 'x' }) =>
			examples.credentials({
				redis: { port: redis.port, keyPrefix },
				smtp: { port: 25 },
				webhook: { sharedSecret },
				signingSecret: 'bench-signing-secret-0123456789abcdef',
			}),
		/**
		 * Imports `credentials` and `workflows` (workflow JSON objects), starts n8n with `env`,
		 * publishes every workflow and waits until each of `webhooks` (paths) answers.
		 * Resolves to { instance (baseUrl, pid), cookie (the owner's session) }.
		 */
		async startN8n({ credentials, workflows, env = {}, webhooks = [] }) {
			n8n.importCredentials(userFolder, credentials);
			const wfDir = path.join(root, 'workflows');
			fs.mkdirSync(wfDir);
			for (const wf of workflows) fs.writeFileSync(path.join(wfDir, `${wf.id}.json`), JSON.stringify(wf));
			n8n.importWorkflows(userFolder, wfDir, { publish: false });
			instance = await n8n.start({ userFolder, env });
			const cookie = await n8n.ensureOwner(instance.baseUrl);
			for (const wf of workflows) await n8n.publishWorkflowRest(instance.baseUrl, cookie, wf.id);
			for (const hook of webhooks) await n8n.waitForWebhook(instance.baseUrl, hook);
			return { instance, cookie };
		},
		stop,
	};
}

module.exports = { prepareBench, cpuProfileEnv, redisCli };
