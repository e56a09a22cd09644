#!/usr/bin/env node
// Makes sure PostgreSQL's server binaries (initdb, pg_ctl, postgres) exist before the queue-mode
// harness starts them. Installs Debian's postgresql package when missing and we are root;
// otherwise says what to install. Prints the folder holding the binaries.
const { execSync } = require('child_process');
const { postgresBinDir } = require('./postgres');
const { hasCommand, isRoot } = require('./system');

/** The folder of PostgreSQL's server binaries, installing Debian's package first when it can. */
function ensurePostgres() {
	if (postgresBinDir()) return postgresBinDir();
	if (isRoot() && hasCommand('apt-get')) {
		console.log('PostgreSQL is missing: installing the Debian package postgresql ...');
		execSync('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql', {
			stdio: 'inherit',
		});
		// Debian starts a system-wide cluster on 5432; the harness starts its own on a free port.
		if (postgresBinDir()) return postgresBinDir();
	}
	console.error(
		'Queue mode needs PostgreSQL (initdb, pg_ctl, postgres; version 13 or newer).\n' +
			'Install it, e.g. "sudo apt-get install postgresql" on Debian/Ubuntu or "brew install postgresql" on macOS, and run again.',
	);
	process.exit(1);
}

console.log(ensurePostgres());
