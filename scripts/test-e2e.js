#!/usr/bin/env node
// `npm run test:e2e` from a fresh clone: installs npm dependencies, redis-server, Chromium and n8n
// when missing, then runs the real-n8n suite (jest.e2e.config.js).
const { execSync } = require('child_process');
const { join } = require('path');
const { ensureDependencies, runJest } = require('./test');

ensureDependencies();
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-chromium.js'))}`, { stdio: 'inherit' });
execSync(`bash ${JSON.stringify(join(__dirname, 'n8n', 'install.sh'))}`, { stdio: 'inherit' });
process.exit(runJest(['-c', 'jest.e2e.config.js', ...process.argv.slice(2)]));
