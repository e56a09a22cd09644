#!/usr/bin/env node
// `npm test` from a fresh clone: installs npm dependencies and redis-server when missing, then jest.
const { execSync, spawnSync } = require('child_process');
const { existsSync } = require('fs');
const { join } = require('path');

const root = join(__dirname, '..');
if (!existsSync(join(root, 'node_modules', '.bin', 'jest'))) {
	console.log('Installing npm dependencies ...');
	execSync(existsSync(join(root, 'package-lock.json')) ? 'npm ci' : 'npm install', { cwd: root, stdio: 'inherit' });
}
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
const jest = spawnSync(join(root, 'node_modules', '.bin', 'jest'), ['--runInBand', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(jest.status ?? 1);
