#!/usr/bin/env node
// Makes sure redis-server and redis-cli exist before the tests start them.
// Installs Debian's redis-server package when missing and we are root; otherwise says what to install.
const { execSync, spawnSync } = require('child_process');

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

if (has('redis-server') && has('redis-cli')) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (isRoot && has('apt-get')) {
	console.log('redis-server is missing: installing the Debian package redis-server ...');
	execSync('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools', {
		stdio: 'inherit',
	});
	// Debian starts a system-wide Redis on 6379; the tests start their own on free ports.
	process.exit(0);
}
console.error(
	'The tests need redis-server and redis-cli (Redis 6.2 or newer).\n' +
		'Install them, e.g. "sudo apt-get install redis-server" on Debian/Ubuntu or "brew install redis" on macOS, and run npm test again.',
);
process.exit(1);
