#!/usr/bin/env node
// `npm test` from a fresh clone: installs npm dependencies and redis-server when missing, builds the
// Lua scripts module (scripts/build-lua.js), runs jest, and ends with a plain "N passed, N failed,
// N skipped" line.
const { execSync, spawnSync } = require('child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync } = require('fs');
const { tmpdir } = require('os');
const { join } = require('path');

const root = join(__dirname, '..');

function ensureDependencies() {
	if (existsSync(join(root, 'node_modules', '.bin', 'jest'))) return;
	console.log('Installing npm dependencies ...');
	execSync(existsSync(join(root, 'package-lock.json')) ? 'npm ci' : 'npm install', { cwd: root, stdio: 'inherit' });
}

/** Runs jest with the given config and arguments; prints the summary line; returns the exit code. */
function runJest(args) {
	const dir = mkdtempSync(join(tmpdir(), 'ma-jest-'));
	const results = join(dir, 'results.json');
	const jest = spawnSync(join(root, 'node_modules', '.bin', 'jest'), ['--runInBand', '--json', `--outputFile=${results}`, ...args], {
		cwd: root,
		stdio: 'inherit',
	});
	if (existsSync(results)) {
		const r = JSON.parse(readFileSync(results, 'utf8'));
		console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
	}
	rmSync(dir, { recursive: true, force: true });
	return jest.status ?? 1;
}

module.exports = { ensureDependencies, runJest };

if (require.main === module) {
	ensureDependencies();
	execSync(`node ${JSON.stringify(join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
	execSync(`node ${JSON.stringify(join(__dirname, 'build-lua.js'))}`, { stdio: 'inherit' });
	process.exit(runJest(process.argv.slice(2)));
}
