#!/usr/bin/env node
// `npm test` from a fresh clone: installs npm dependencies and redis-server when missing, builds the
// Lua scripts module (scripts/build-lua.js), type-checks the code and the tests, runs jest, and ends
// with a plain "N passed, N failed, N skipped" line.
const { execSync, spawnSync } = require('child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync } = require('fs');
const { tmpdir } = require('os');
const { join } = require('path');
const { installDependencies } = require('./system');

const root = join(__dirname, '..');

function ensureDependencies() {
	if (existsSync(join(root, 'node_modules', '.bin', 'jest'))) return;
	console.log('Installing npm dependencies ...');
	installDependencies(root);
}

/**
 * Runs jest with the given config and arguments; prints the summary line (unless summary: false);
 * returns the exit code, or with summary: false { status, counts: { passed, failed, skipped } }.
 */
function runJest(args, { summary = true } = {}) {
	const dir = mkdtempSync(join(tmpdir(), 'ma-jest-'));
	const results = join(dir, 'results.json');
	const jest = spawnSync(
		join(root, 'node_modules', '.bin', 'jest'),
		['--runInBand', '--json', `--outputFile=${results}`, ...args],
		{
			cwd: root,
			stdio: 'inherit',
		},
	);
	const counts = { passed: 0, failed: 0, skipped: 0 };
	const reported = existsSync(results);
	if (reported) {
		const r = JSON.parse(readFileSync(results, 'utf8'));
		Object.assign(counts, {
			passed: r.numPassedTests,
			failed: r.numFailedTests,
			skipped: r.numPendingTests + r.numTodoTests,
		});
	}
	rmSync(dir, { recursive: true, force: true });
	const status = jest.status ?? 1;
	if (!summary) return { status, counts };
	if (reported) console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
	return status;
}

module.exports = { ensureDependencies, runJest };

/** ts-jest compiles each test file alone (isolatedModules), so the types are checked here, once. */
function typeCheck() {
	const tsc = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.test.json'], {
		cwd: root,
		stdio: 'inherit',
	});
	if (tsc.status !== 0) {
		console.log('0 passed, 1 failed, 0 skipped (type errors in the code or the tests; see above)');
		process.exit(tsc.status ?? 1);
	}
}

if (require.main === module) {
	ensureDependencies();
	execSync(`node ${JSON.stringify(join(__dirname, 'build-lua.js'))}`, { stdio: 'inherit' });
	typeCheck();
	execSync(`node ${JSON.stringify(join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
	process.exit(runJest(process.argv.slice(2)));
}
