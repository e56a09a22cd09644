#!/usr/bin/env node
// Makes sure Debian's `chromium` exists for the headless editor check (test/e2e/editor).
// Installs the package with apt-get when missing and we are root; otherwise says what to install.
// Prints the executable path on success.
const { execSync } = require('child_process');
const { existsSync } = require('fs');
const { hasCommand, isRoot } = require('./system');

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
const found = () => CANDIDATES.find((p) => existsSync(p));

function ensureChromium() {
	if (found()) return found();
	if (isRoot() && hasCommand('apt-get')) {
		console.log('chromium is missing: installing the Debian package chromium ...');
		execSync(
			'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation',
			{
				stdio: 'inherit',
			},
		);
		if (found()) return found();
	}
	throw new Error(
		'The editor check needs Chromium at /usr/bin/chromium (or set CHROMIUM_PATH).\n' +
			'Install it, e.g. "sudo apt-get install chromium" on Debian/Ubuntu, and run again.',
	);
}

module.exports = { ensureChromium };

if (require.main === module) {
	try {
		console.log(ensureChromium());
	} catch (e) {
		console.error(e.message);
		process.exit(1);
	}
}
