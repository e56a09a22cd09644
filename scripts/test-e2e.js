#!/usr/bin/env node
// `npm run test:e2e` from a fresh clone: installs npm dependencies, redis-server, PostgreSQL,
// Chromium and n8n when missing, then runs the real-n8n suites one after the other, each with its
// own n8n: jest.e2e.config.js (one n8n process) and jest.e2e-queue.config.js (queue mode: main,
// workers, webhook processor, Postgres, Redis Cluster). MA_E2E_SUITES=single or =queue runs one.
// Arguments go to jest (a path selects files; a suite without a matching file is skipped).
const { execSync } = require('child_process');
const { join } = require('path');
const { ensureDependencies, runJest } = require('./test');

const SUITES = { single: 'jest.e2e.config.js', queue: 'jest.e2e-queue.config.js' };
const chosen = (process.env.MA_E2E_SUITES || 'single,queue').split(',').map((s) => s.trim());
for (const name of chosen) if (!SUITES[name]) throw new Error(`MA_E2E_SUITES: unknown suite "${name}" (single, queue)`);

ensureDependencies();
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
if (chosen.includes('queue'))
	execSync(`node ${JSON.stringify(join(__dirname, 'ensure-postgres.js'))}`, { stdio: 'inherit' });
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-chromium.js'))}`, { stdio: 'inherit' });
execSync(`bash ${JSON.stringify(join(__dirname, '..', 'tools', 'n8n', 'install.sh'))}`, { stdio: 'inherit' });

const args = process.argv.slice(2);
const total = { passed: 0, failed: 0, skipped: 0 };
let status = 0;
for (const name of chosen) {
	console.log(`\n=== e2e suite: ${name} (${SUITES[name]}) ===`);
	const r = runJest(['-c', SUITES[name], ...(args.length > 0 ? ['--passWithNoTests'] : []), ...args], {
		summary: false,
	});
	for (const k of Object.keys(total)) total[k] += r.counts[k];
	if (r.status !== 0) status = r.status;
}
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(status);
