#!/usr/bin/env node
'use strict';
// The README's first command as a new user runs it: `npm start` until the n8n editor answers and
// the example hub's event URL takes an event, then Ctrl-C, and everything it started must stop.
// .ci/run calls it with an empty HOME, so n8n and its Node 24 install afresh on every CI run.
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
// A first start installs n8n (~2,400 packages) and prints its progress at least every 30 s, so
// silence means a hang; the overall limit leaves CI's 90 minutes room for the suites after it.
const TIMEOUT_MS = Number(process.env.MA_CHECK_START_TIMEOUT_MS || 45 * 60 * 1000);
const SILENCE_MS = Number(process.env.MA_CHECK_START_SILENCE_MS || 10 * 60 * 1000);
const say = (msg) => console.log(`[check-start] ${msg}`);

async function get(url, init) {
	const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30000) });
	return { status: res.status, text: await res.text() };
}

function alive(pid) {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

function listening(port) {
	return new Promise((resolve) => {
		const socket = net.connect(port, '127.0.0.1');
		socket.once('connect', () => socket.destroy() || resolve(true));
		socket.once('error', () => resolve(false));
	});
}

let child;

/** Ctrl-C to `npm start` (it stops n8n, Redis and the mail catcher), then SIGKILL if it hangs. */
async function stopStart() {
	if (!child || child.exitCode !== null || child.signalCode !== null) return;
	const exited = new Promise((resolve) => child.once('exit', resolve));
	process.kill(-child.pid, 'SIGINT');
	if (!(await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 60000))]))) {
		process.kill(-child.pid, 'SIGKILL');
	}
}

async function main() {
	const started = Date.now();
	// Its own process group, so that Ctrl-C reaches npm and start.js as in a terminal.
	child = spawn('npm', ['start'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
	let output = '';
	let lastOutput = Date.now();
	const onData = (chunk) => {
		process.stdout.write(chunk);
		output += chunk;
		lastOutput = Date.now();
	};
	child.stdout.on('data', onData);
	child.stderr.on('data', onData);
	const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

	// The limits watch until the editor answers (or until either ends the wait), not after.
	let watchdog;
	const editor = await Promise.race([
		new Promise((resolve) => {
			const t = setInterval(() => {
				const m = /Editor:\s+(http:\/\/\S+)/.exec(output);
				if (m) {
					clearInterval(t);
					resolve(m[1]);
				}
			}, 500);
		}),
		exited.then(({ code, signal }) => {
			throw new Error(`npm start exited (code ${code}, signal ${signal}) before the editor answered`);
		}),
		new Promise((_, reject) => {
			watchdog = setInterval(() => {
				if (Date.now() - started > TIMEOUT_MS) reject(new Error(`no editor URL after ${TIMEOUT_MS / 1000}s`));
				else if (Date.now() - lastOutput > SILENCE_MS)
					reject(new Error(`npm start printed nothing for ${SILENCE_MS / 1000}s, before the editor URL`));
			}, 1000).unref();
		}),
	]).finally(() => clearInterval(watchdog));
	say(`editor URL printed after ${Math.round((Date.now() - started) / 1000)}s: ${editor}`);

	const page = await get(editor);
	if (page.status !== 200 || !/<html/i.test(page.text))
		throw new Error(`the editor answered ${page.status}, not its page`);
	say('the editor page answers 200');

	// The example hub is published on the first start; an event with the printed secret is taken.
	const secret = /X-Webhook-Secret:\s+(\S+)/.exec(output)?.[1];
	const events = /Events:\s+POST\s+(\S+)/.exec(output)?.[1];
	if (!secret || !events) throw new Error('npm start did not print the event URL and its secret');
	const sent = await get(events, {
		method: 'POST',
		headers: { 'content-type': 'application/json', 'X-Webhook-Secret': secret },
		body: JSON.stringify({ email: 'new-user@example.com', event: 'newsletter_signup' }),
	});
	if (sent.status !== 200) throw new Error(`the event URL answered ${sent.status}: ${sent.text.slice(0, 300)}`);
	say('the example hub took an event');

	process.kill(-child.pid, 'SIGINT');
	const stop = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(null), 60000))]);
	if (!stop) throw new Error('npm start did not stop within 60s of Ctrl-C');
	say(`npm start stopped (code ${stop.code}, signal ${stop.signal})`);
	// Nothing it started may outlive it: its process group, n8n (detached) and the local Redis.
	await new Promise((r) => setTimeout(r, 2000));
	if (alive(-child.pid)) throw new Error('processes of npm start were still running after it stopped');
	const redisPort = /Redis on 127\.0\.0\.1:(\d+)/.exec(output)?.[1];
	for (const [name, port] of [
		['n8n', new URL(editor).port],
		['Redis', redisPort],
	]) {
		if (port && (await listening(Number(port))))
			throw new Error(`${name} still listens on port ${port} after npm start stopped`);
	}
	say(`ok in ${Math.round((Date.now() - started) / 1000)}s`);
}

main().catch(async (e) => {
	console.error(`[check-start] FAILED: ${e.message}`);
	await stopStart().catch(() => undefined);
	process.exit(1);
});
