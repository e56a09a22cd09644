'use strict';
// A PostgreSQL server of its own for n8n's database in queue mode: initdb into a data folder,
// pg_ctl start on a loopback port with its own socket folder, one database and a password user.
// Postgres refuses to run as root, so as root it runs as the `postgres` system user (Debian's
// package creates it) and the data folder is handed to that user.
// Plain CommonJS on Node's standard library (used by `npm start` and the jest harness).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { hasCommand, isRoot } = require('./system');

const PG_USER = 'n8n';
const PG_DATABASE = 'n8n';

/** The folder holding initdb/pg_ctl/postgres (newest Debian version first, then PATH), or ''. */
function postgresBinDir() {
	const debian = '/usr/lib/postgresql';
	if (fs.existsSync(debian)) {
		const versions = fs
			.readdirSync(debian)
			.filter((v) => fs.existsSync(path.join(debian, v, 'bin', 'pg_ctl')))
			.sort((a, b) => Number(b) - Number(a));
		if (versions.length) return path.join(debian, versions[0], 'bin');
	}
	const found = spawnSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' }).stdout.trim();
	return found && hasCommand('initdb') ? path.dirname(fs.realpathSync(found)) : '';
}

/** Runs a Postgres binary, as the postgres system user when we are root. */
function pg(bin, args, { input } = {}) {
	const dir = postgresBinDir();
	if (!dir) throw new Error('PostgreSQL is not installed: run node scripts/ensure-postgres.js');
	const cmd = path.join(dir, bin);
	const [file, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
	// cwd: a folder the postgres user may enter (runuser keeps root's cwd otherwise).
	const r = spawnSync(file, argv, {
		encoding: 'utf8',
		input,
		cwd: '/',
		env: { ...process.env, LC_ALL: 'C' },
		timeout: 120000,
	});
	if (r.status !== 0)
		throw new Error(
			`${bin} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout || String(r.error)).trim().slice(-2000)}`,
		);
	return r.stdout;
}

function handToPostgresUser(dir) {
	if (!isRoot()) return;
	const r = spawnSync('chown', ['-R', 'postgres:postgres', dir]);
	if (r.status !== 0) throw new Error(`chown postgres ${dir} failed; is there a postgres system user?`);
	if (spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-w', dir]).status !== 0) {
		throw new Error(
			`The postgres user cannot reach ${dir}: a folder above it is private (such as /root). Use a data folder it can reach (MA_POSTGRES_DIR for npm start).`,
		);
	}
}

/**
 * Starts Postgres with its data in `dir` (created and initialised on first use; kept across runs),
 * listening on 127.0.0.1:`port` only. `durable: false` turns fsync off (test databases).
 * Returns { host, port, user, password, database, dir, logFile, stop() }.
 */
function startPostgres({ dir, port, password, durable = true }) {
	const dataDir = path.join(dir, 'data');
	const socketDir = path.join(dir, 'socket');
	const logFile = path.join(dir, 'postgres.log');
	fs.mkdirSync(socketDir, { recursive: true });
	const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
	if (fresh) {
		const pwFile = path.join(dir, 'pwfile');
		fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
		handToPostgresUser(dir);
		try {
			// Socket connections (the harness's own, from the postgres user) are trusted; TCP needs the password.
			pg('initdb', [
				'-D',
				dataDir,
				'-U',
				PG_USER,
				`--pwfile=${pwFile}`,
				'--auth-local=trust',
				'--auth-host=scram-sha-256',
				'-E',
				'UTF8',
				'--no-instructions',
			]);
		} finally {
			fs.rmSync(pwFile, { force: true });
		}
	}
	handToPostgresUser(dir);
	const options = [
		`-p ${port}`,
		`-k ${socketDir}`,
		"-c listen_addresses='127.0.0.1'",
		...(durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
	];
	pg('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options.join(' ')]);
	const stop = () => {
		try {
			pg('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']);
		} catch {
			// already stopped
		}
	};
	try {
		if (fresh) pg('createdb', ['-h', socketDir, '-p', String(port), '-U', PG_USER, PG_DATABASE]);
	} catch (e) {
		stop();
		throw e;
	}
	return { host: '127.0.0.1', port, user: PG_USER, password, database: PG_DATABASE, dir, logFile, stop };
}

module.exports = { postgresBinDir, startPostgres };
