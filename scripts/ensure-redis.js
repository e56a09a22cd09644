#!/usr/bin/env node
// Makes sure redis-server and redis-cli exist before the tests start them, and openssl, which makes
// the certificates of the TLS tests. Installs the Debian packages when missing and we are root;
// otherwise says what to install.
const { execSync } = require('child_process');
const { hasCommand: has, isRoot } = require('./system');

const missing = [];
if (!has('redis-server') || !has('redis-cli')) missing.push('redis-server', 'redis-tools');
if (!has('openssl')) missing.push('openssl');
if (missing.length === 0) process.exit(0);

if (isRoot() && has('apt-get')) {
	console.log(`Installing the Debian packages ${missing.join(', ')} ...`);
	execSync(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')}`, {
		stdio: 'inherit',
	});
	// Debian starts a system-wide Redis on 6379; the tests start their own on free ports.
	process.exit(0);
}
console.error(
	'The tests need redis-server and redis-cli (Redis 7.0 or newer, built with TLS) and openssl.\n' +
		'Install them, e.g. "sudo apt-get install redis-server openssl" on Debian/Ubuntu or "brew install redis openssl" on macOS, and run npm test again.',
);
process.exit(1);
