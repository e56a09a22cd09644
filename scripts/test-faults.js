#!/usr/bin/env node
// `npm run test:faults` from a fresh clone: installs npm dependencies, redis-server and n8n when
// missing, then runs the fault suite (jest.faults.config.js: test/faults) against a real n8n.
// Arguments go to jest (a path selects files).
const { execSync } = require('child_process');
const { join } = require('path');
const { ensureDependencies, runJest } = require('./test');

ensureDependencies();
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
execSync(`bash ${JSON.stringify(join(__dirname, '..', 'tools', 'n8n', 'install.sh'))}`, { stdio: 'inherit' });
process.exit(runJest(['-c', 'jest.faults.config.js', ...process.argv.slice(2)]));
