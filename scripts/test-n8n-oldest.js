#!/usr/bin/env node
// `npm run test:n8n-oldest`: installs the oldest n8n the pack supports (the lower bound of
// engines.n8n in package.json; see docs/compatibility.md) next to the pinned one, with the Node it
// runs on, and runs the smoke test against it (jest.n8n-oldest.config.js).
const { execSync } = require('child_process');
const { join } = require('path');
const { ensureDependencies, runJest } = require('./test');
const { engines } = require('../package.json');

const oldest = /^>=\s*(\d+\.\d+\.\d+)/.exec(engines.n8n);
if (!oldest)
	throw new Error(`package.json engines.n8n must start with ">=<version>", got ${JSON.stringify(engines.n8n)}`);
process.env.N8N_VERSION = oldest[1];

ensureDependencies();
execSync(`node ${JSON.stringify(join(__dirname, 'ensure-redis.js'))}`, { stdio: 'inherit' });
execSync(`bash ${JSON.stringify(join(__dirname, '..', 'tools', 'n8n', 'install.sh'))}`, { stdio: 'inherit' });
process.exit(runJest(['-c', 'jest.n8n-oldest.config.js', ...process.argv.slice(2)]));
