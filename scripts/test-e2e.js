#!/usr/bin/env node
// `npm run test:e2e` from a fresh clone: installs npm dependencies, redis-server, Chromium and n8n
// when missing, then runs the real-n8n suite (jest.e2e.config.js).
const { execSync, spawnSync } = require('child_process');
const { existsSync } = require('fs');
const { join } = require('path');

const root = join(__dirname, '..');
if (!existsSync(join(root, 'node_modules', '.bin', 'jest'))) {
	console.log('Installing npm dependencies ...');
	execSync(existsSync(join(root, 'package-lock.json')) ? 'npm ci' : 'npm install', { cwd: root, stdio: 'inherit' });
}
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-chromium.js'))}`, { stdio: 'inherit' });
execSync(`bash ${JSON.stringify(join(__dirname, 'n8n', 'install.sh'))}`, { stdio: 'inherit' });
const jest = spawnSync(join(root, 'node_modules', '.bin', 'jest'), ['-c', 'jest.e2e.config.js', '--runInBand', ...process.argv.slice(2)], {
	cwd: root,
	stdio: 'inherit',
});
process.exit(jest.status ?? 1);
