/**
 * tools/n8n/npm-install.js, the watched `npm install` of n8n, against a real npm and a registry on
 * loopback that serves one small package and can hang, as a slow or stuck registry does.
 */
import { execFile, execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { createServer, type Server } from 'http';
import type { AddressInfo } from 'net';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const SCRIPT = resolve(__dirname, '..', '..', 'tools', 'n8n', 'npm-install.js');
const PACKAGE = 'ma-fixture-tiny';

let work: string;
let registry: FakeRegistry;

/** A registry with the versions given; `hangTarballs` requests for a tarball get no answer. */
class FakeRegistry {
	readonly tarballs = new Map<string, Buffer>();
	tarballRequests = 0;
	hangTarballs = 0;
	private readonly hanging: Array<() => void> = [];
	private server!: Server;
	url = '';

	async start(): Promise<void> {
		this.server = createServer((req, res) => {
			const path = decodeURIComponent(req.url ?? '');
			if (path === `/${PACKAGE}`) {
				res.setHeader('content-type', 'application/json');
				res.end(JSON.stringify(this.packument()));
				return;
			}
			const version = /-(\d+\.\d+\.\d+)\.tgz$/.exec(path)?.[1];
			const tarball = version && this.tarballs.get(version);
			if (!tarball) {
				res.statusCode = 404;
				res.end('{}');
				return;
			}
			this.tarballRequests++;
			if (this.hangTarballs > 0) {
				this.hangTarballs--;
				this.hanging.push(() => res.destroy());
				return;
			}
			res.setHeader('content-type', 'application/octet-stream');
			res.end(tarball);
		});
		await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
		this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
	}

	publish(version: string): void {
		const dir = mkdtempSync(join(work, 'pkg-'));
		mkdirSync(join(dir, 'package'));
		writeFileSync(join(dir, 'package', 'package.json'), JSON.stringify({ name: PACKAGE, version }));
		execFileSync('tar', ['-czf', join(dir, 'p.tgz'), '-C', dir, 'package']);
		this.tarballs.set(version, readFileSync(join(dir, 'p.tgz')));
	}

	private packument() {
		const versions = Object.fromEntries(
			[...this.tarballs].map(([version, tgz]) => [
				version,
				{
					name: PACKAGE,
					version,
					dist: {
						tarball: `${this.url}${PACKAGE}/-/${PACKAGE}-${version}.tgz`,
						integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`,
					},
				},
			]),
		);
		return { name: PACKAGE, 'dist-tags': { latest: [...this.tarballs.keys()].pop() }, versions };
	}

	async stop(): Promise<void> {
		this.hanging.forEach((end) => end());
		this.server.closeAllConnections();
		await new Promise((r) => this.server.close(r));
	}
}

/** Runs the script as install.sh does, with this registry and its own npm cache. */
function install(
	spec: string,
	env: Record<string, string> = {},
): Promise<{ code: number; output: string; installed?: string }> {
	const dir = mkdtempSync(join(work, 'install-'));
	writeFileSync(join(dir, 'package.json'), '{"name":"runtime","private":true}');
	const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
	return new Promise((done) => {
		execFile(
			process.execPath,
			[SCRIPT, dir, '--ignore-scripts', '--no-audit', '--no-fund', spec],
			{
				env: {
					...clean,
					npm_config_registry: registry.url,
					npm_config_cache: join(work, 'npm-cache'),
					npm_config_fetch_retries: '0',
					MA_NPM_STALL_S: '3',
					MA_NPM_PROGRESS_S: '1',
					...env,
				},
			},
			(error, stdout, stderr) => {
				let installed: string | undefined;
				try {
					installed = (
						JSON.parse(readFileSync(join(dir, 'node_modules', PACKAGE, 'package.json'), 'utf8')) as {
							version: string;
						}
					).version;
				} catch {
					installed = undefined;
				}
				done({ code: error ? Number(error.code) : 0, output: stdout + stderr, installed });
			},
		);
	});
}

beforeEach(async () => {
	work = mkdtempSync(join(tmpdir(), 'npm-install-'));
	registry = new FakeRegistry();
	await registry.start();
	registry.publish('1.0.0');
});

afterEach(async () => {
	await registry.stop();
	rmSync(work, { recursive: true, force: true });
});

describe('the watched npm install of n8n', () => {
	it('installs, and says what came from the registry', async () => {
		const run = await install(`${PACKAGE}@1.0.0`);
		expect(run).toMatchObject({ code: 0, installed: '1.0.0' });
		expect(run.output).toMatch(
			/npm install done in \d+s: 2 requests to the registry \(the slowest \d+\.\d+s\), 1 read from the cache/,
		);
	}, 60_000);

	it('stops npm when the registry stops answering, and installs on the next try', async () => {
		registry.hangTarballs = 1;
		const run = await install(`${PACKAGE}@1.0.0`);
		expect(run.output).toMatch(
			/npm after \d+s: 1 request to the registry, \d+ reads? from the cache, \d+ MB written; last active \d+s ago/,
		);
		expect(run.output).toContain('npm has done nothing for 3s (no request, no I/O, no CPU); stopping it');
		expect(run.output).toMatch(/npm install stalled after \d+s \(try 1 of 3\)/);
		expect(run).toMatchObject({ code: 0, installed: '1.0.0' });
		expect(registry.tarballRequests).toBe(2);
	}, 60_000);

	it('gives up after the last try, and says so', async () => {
		registry.hangTarballs = 2;
		const run = await install(`${PACKAGE}@1.0.0`, { MA_NPM_ATTEMPTS: '2' });
		expect(run.output).toMatch(/try 2 of 2/);
		expect(run.output).toContain('npm install failed 2 times');
		expect(run).toMatchObject({ code: 1, installed: undefined });
		expect(registry.tarballRequests).toBe(2);
	}, 60_000);

	it('takes what the cache holds without asking the registry, and goes online when the cache is too old', async () => {
		expect(await install(`${PACKAGE}@1.0.0`)).toMatchObject({ code: 0, installed: '1.0.0' });
		// The cache now holds 1.0.0 and the list of versions as it was.
		const again = await install(`${PACKAGE}@1.0.0`);
		expect(again).toMatchObject({ code: 0, installed: '1.0.0' });
		expect(again.output).toMatch(/: 0 requests to the registry, 2 reads from the cache/);

		registry.publish('1.1.0');
		const newer = await install(`${PACKAGE}@1.1.0`);
		expect(newer.output).toMatch(/exited with code 1 after \d+s \(try 1 of 3\)/);
		expect(newer).toMatchObject({ code: 0, installed: '1.1.0' });
	}, 60_000);
});
