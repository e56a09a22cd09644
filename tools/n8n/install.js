'use strict';
// Where the pinned n8n and the Node it runs on are installed (tools/n8n/install.sh writes them
// into a cache folder outside the repo), and n8n's folders and environment for a user folder.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const N8N_VERSION = process.env.N8N_VERSION || '2.41.0';
const CACHE_DIR = process.env.N8N_CACHE_DIR || path.join(os.homedir(), '.cache', 'n8n-marketing-automation');
const REPO_DIR = path.resolve(__dirname, '..', '..');

function resolveInstall() {
	const dir = path.join(CACHE_DIR, `n8n-${N8N_VERSION}`);
	const marker = path.join(dir, '.install-complete');
	if (!fs.existsSync(marker)) {
		throw new Error(
			`n8n ${N8N_VERSION} is not installed in ${dir}. Run: npm run n8n:install (bash tools/n8n/install.sh)`,
		);
	}
	const info = Object.fromEntries(
		fs
			.readFileSync(marker, 'utf8')
			.split('\n')
			.filter((l) => l.includes('='))
			.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
	);
	return { n8nDir: dir, n8nBin: info.N8N_BIN, nodeBin: info.NODE_BIN, version: info.N8N_VERSION };
}

/** The major version of the installed n8n (1 or 2). */
function n8nMajor() {
	return Number(resolveInstall().version.split('.')[0]);
}

function install() {
	const r = spawnSync('bash', [path.join(__dirname, 'install.sh')], { stdio: 'inherit' });
	if (r.status !== 0) throw new Error(`install.sh failed (exit ${r.status})`);
	return resolveInstall();
}

function n8nFolder(userFolder) {
	// n8n keeps everything under <N8N_USER_FOLDER>/.n8n
	return path.join(path.resolve(userFolder), '.n8n');
}

function pathWithNode(nodeBin) {
	return `${path.dirname(nodeBin)}${path.delimiter}${process.env.PATH || ''}`;
}

/** Environment n8n is run with (server and CLI commands alike). */
function n8nEnv({ userFolder, port, brokerPort, env } = {}) {
	const { nodeBin } = resolveInstall();
	const folder = path.resolve(userFolder);
	const e = {
		...process.env,
		PATH: pathWithNode(nodeBin),
		N8N_USER_FOLDER: folder,
		DB_TYPE: 'sqlite',
		DB_SQLITE_DATABASE: path.join(n8nFolder(folder), 'database.sqlite'),
		N8N_LISTEN_ADDRESS: '127.0.0.1',
		N8N_HOST: '127.0.0.1',
		N8N_PROTOCOL: 'http',
		N8N_RUNNERS_BROKER_LISTEN_ADDRESS: '127.0.0.1',
		N8N_UNVERIFIED_PACKAGES_ENABLED: 'true',
		N8N_COMMUNITY_PACKAGES_ENABLED: 'true',
		N8N_DIAGNOSTICS_ENABLED: 'false',
		N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
		N8N_PERSONALIZATION_ENABLED: 'false',
		N8N_TEMPLATES_ENABLED: 'false',
		N8N_HIRING_BANNER_ENABLED: 'false',
		N8N_DYNAMIC_BANNERS_ENABLED: 'false',
		N8N_SECURE_COOKIE: 'false',
		N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'true',
		N8N_LOG_OUTPUT: 'console',
		// As docs/production.md advises: a webhook request that evaluates no expression builds no
		// expression isolate (n8n 2.x; 1.x ignores it).
		N8N_EXPRESSION_ENGINE_LAZY_ACQUIRE: 'true',
		// Under jest NODE_ENV=test, and n8n then refuses to load nodes.
		NODE_ENV: 'production',
	};
	// The machine's npm config may set nodedir to Node 20 headers; n8n's npm calls must not inherit it.
	delete e.npm_config_nodedir;
	delete e.NODE_OPTIONS;
	// 2.x's mcp-registry only fetches a catalogue from api.n8n.io, which is unreachable here;
	// 1.x has no such module and refuses to start when an unknown one is named.
	if (n8nMajor() !== 1) e.N8N_DISABLED_MODULES = 'mcp-registry';
	if (port) {
		e.N8N_PORT = String(port);
		e.N8N_WEBHOOK_URL = `http://127.0.0.1:${port}/`;
		e.N8N_EDITOR_BASE_URL = `http://127.0.0.1:${port}/`;
	}
	if (brokerPort) e.N8N_RUNNERS_BROKER_PORT = String(brokerPort);
	return { ...e, ...(env || {}) };
}

module.exports = {
	N8N_VERSION,
	CACHE_DIR,
	REPO_DIR,
	resolveInstall,
	n8nMajor,
	install,
	n8nFolder,
	pathWithNode,
	n8nEnv,
};
