'use strict';
// What the ensure-* scripts and the Postgres harness ask of the machine before they install or start
// anything, and the project's own npm install.
const { execSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** Whether a command is on PATH. */
const hasCommand = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Whether this process runs as root (may use apt-get, must hand Postgres to its own user). */
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * The project's npm dependencies (npm ci with its lockfile): from npm's cache first, without asking
 * the registry, which can be slow (tools/n8n/npm-install.js); online when the cache is too old.
 */
function installDependencies(root) {
	const install = fs.existsSync(path.join(root, 'package-lock.json')) ? 'npm ci' : 'npm install';
	try {
		execSync(`${install} --prefer-offline`, { cwd: root, stdio: 'inherit' });
	} catch {
		console.log(`${install} from the cache failed; again, asking the registry`);
		execSync(install, { cwd: root, stdio: 'inherit' });
	}
}

module.exports = { hasCommand, installDependencies, isRoot };
