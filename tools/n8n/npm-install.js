#!/usr/bin/env node
'use strict';
// `npm install` of n8n's ~2,400 packages (and of the Node it runs on), watched. A CI run once spent
// its whole 30 minutes in n8n's install with nothing printed, on a machine whose npm cache held
// every package. So:
// - the first try uses the cache as it is (--prefer-offline): a warm machine installs without the
//   network, and only what the cache lacks is fetched;
// - a progress line every PROGRESS_S seconds tells how far npm is, the last one the slowest
//   registry request;
// - npm that neither completes a request, reads or writes a byte, nor uses the CPU for STALL_S
//   seconds is stopped and run again (what it fetched is in the cache by then), up to ATTEMPTS
//   times; unpacking n8n's 3 GB takes minutes in which npm logs nothing;
// - a try that fails otherwise is run again online, in case the cache's metadata is too old.
//
// Usage: node npm-install.js <dir> <npm install arguments...>
// Env: MA_NPM_STALL_S (default 300), MA_NPM_PROGRESS_S (default 30), MA_NPM_ATTEMPTS (default 3).
const { spawn } = require('node:child_process');
const fs = require('node:fs');

const STALL_S = Number(process.env.MA_NPM_STALL_S || 300);
const PROGRESS_S = Number(process.env.MA_NPM_PROGRESS_S || 30);
const ATTEMPTS = Number(process.env.MA_NPM_ATTEMPTS || 3);
const say = (msg) => console.log(`[n8n-install] ${msg}`);
const count = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;

// npm's http log lines, one a request, for example
//   npm http fetch GET 200 https://host/name 18ms (cache stale)
//   npm http cache name@https://host/name/-/name-1.0.0.tgz 0ms (cache hit)
const FETCH_LINE = /^npm http (?:fetch \S+ \d+|cache) \S+ (\d+)ms(?: \(([^)]*)\))?/;

/**
 * What the process has done so far, where Linux tells: bytes read and written (sockets and files
 * alike) and CPU time (npm works out n8n's tree for tens of seconds without any I/O).
 */
function activity(pid) {
	try {
		const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
		const [read, written] = ['rchar', 'wchar'].map((name) => new RegExp(`^${name}: (\\d+)`, 'm').exec(io)[1]);
		const [utime, stime] = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13);
		return { written: Number(written), signature: `${read} ${written} ${utime} ${stime}` };
	} catch {
		return { written: 0, signature: '' };
	}
}

/** One npm run; resolves with how it ended and what it fetched. */
function runNpm(dir, args) {
	return new Promise((resolve) => {
		const started = Date.now();
		const stats = { registry: 0, cache: 0, slowestMs: 0 };
		let lastActivity = Date.now();
		let stalled = false;
		const child = spawn('npm', ['install', '--loglevel=http', ...args], {
			cwd: dir,
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		const onLine = (line) => {
			lastActivity = Date.now();
			const request = FETCH_LINE.exec(line);
			if (!request) {
				// n8n's tree gives ~300 lines of peer-dependency warnings that no user can act on.
				if (line.trim() && !line.startsWith('npm warn')) process.stderr.write(`${line}\n`);
				return;
			}
			if (/^cache (hit|stale)/.test(request[2] ?? '')) stats.cache++;
			else {
				stats.registry++;
				stats.slowestMs = Math.max(stats.slowestMs, Number(request[1]));
			}
		};
		for (const stream of [child.stdout, child.stderr]) {
			let rest = '';
			stream.on('data', (chunk) => {
				const lines = (rest + chunk).split('\n');
				rest = lines.pop();
				lines.forEach(onLine);
			});
			stream.on('end', () => rest && onLine(rest));
		}
		const seconds = () => Math.round((Date.now() - started) / 1000);
		let done = { written: 0, signature: '' };
		const progress = setInterval(() => {
			say(
				`npm after ${seconds()}s: ${count(stats.registry, 'request')} to the registry,` +
					` ${count(stats.cache, 'read')} from the cache, ${Math.round(done.written / 1e6)} MB written;` +
					` last active ${Math.round((Date.now() - lastActivity) / 1000)}s ago`,
			);
		}, PROGRESS_S * 1000);
		const watchdog = setInterval(() => {
			const now = activity(child.pid);
			if (now.signature !== done.signature) lastActivity = Date.now();
			done = now;
			if (Date.now() - lastActivity < STALL_S * 1000) return;
			stalled = true;
			say(`npm has done nothing for ${STALL_S}s (no request, no I/O, no CPU); stopping it`);
			child.kill('SIGKILL');
		}, 1000);
		child.on('error', (error) => say(`npm did not start: ${error.message}`));
		child.on('close', (code, signal) => {
			clearInterval(progress);
			clearInterval(watchdog);
			resolve({ code, signal, stalled, seconds: seconds(), stats });
		});
	});
}

async function main() {
	const [dir, ...args] = process.argv.slice(2);
	if (!dir) throw new Error('usage: npm-install.js <dir> <npm install arguments...>');
	let offline = true;
	for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
		const run = await runNpm(dir, offline ? ['--prefer-offline', ...args] : args);
		const { registry, cache, slowestMs } = run.stats;
		const slowest = registry > 0 ? ` (the slowest ${(slowestMs / 1000).toFixed(1)}s)` : '';
		const fetched = `${count(registry, 'request')} to the registry${slowest}, ${count(cache, 'read')} from the cache`;
		if (run.code === 0) {
			say(`npm install done in ${run.seconds}s: ${fetched}`);
			return;
		}
		const why = run.stalled ? 'stalled' : `exited with code ${run.code ?? run.signal}`;
		say(`npm install ${why} after ${run.seconds}s (try ${attempt} of ${ATTEMPTS}): ${fetched}`);
		// A failure that is not a stall may come from the cache's old metadata: the next try is online.
		if (!run.stalled) offline = false;
	}
	throw new Error(`npm install failed ${ATTEMPTS} times; see npm's messages above`);
}

main().catch((e) => {
	say(e.message);
	process.exit(1);
});
