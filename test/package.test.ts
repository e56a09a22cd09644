/**
 * What `npm pack` ships, as n8n installs it: builds, packs into a temporary file, unpacks it inside
 * the repository (so the unpacked code finds node_modules as it would in n8n's nodes folder), and
 * loads every node and credential of package.json's "n8n" section from there.
 */
import { execFileSync } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { basename, dirname, join, resolve } from 'path';
import type { ICredentialType, INodeType } from 'n8n-workflow';
import { CREDENTIAL_NAME, STORE_CREDENTIAL_TEST } from '../nodes/shared/store';

const ROOT = resolve(__dirname, '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
	main: string;
	types: string;
	files: string[];
	n8n: { nodes: string[]; credentials: string[] };
};

/** npm settings of an outer `npm run` (the project's ignore-scripts, a dry run ...) stay out of these npm calls. */
function npm(args: string[]): string {
	const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
	return execFileSync('npm', args, { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

let work: string;
let unpacked: string;
let shipped: string[];

beforeAll(() => {
	npm(['run', 'build']);
	mkdirSync(join(ROOT, 'test-output'), { recursive: true });
	work = mkdtempSync(join(ROOT, 'test-output', 'pack-'));
	const [info] = JSON.parse(npm(['pack', '--json', '--pack-destination', work])) as Array<{
		filename: string;
		files: Array<{ path: string }>;
	}>;
	shipped = info.files.map((f) => f.path).sort();
	execFileSync('tar', ['-xzf', join(work, info.filename), '-C', work]);
	unpacked = join(work, 'package');
}, 240_000);

afterAll(() => {
	if (work) rmSync(work, { recursive: true, force: true });
});

/** The class a node or credential file exports, named after the file (Contact.node.js: Contact). */
function exportedClass<T>(path: string): new () => T {
	const name = basename(path).split('.')[0];
	// eslint-disable-next-line @typescript-eslint/no-require-imports -- the built module, loaded as n8n loads it
	const exported = (require(join(unpacked, path)) as Record<string, new () => T>)[name];
	if (typeof exported !== 'function') throw new Error(`${path} does not export ${name}`);
	return exported;
}

/** The icon files a description names ("file:x.svg", or light and dark), next to its code. */
function iconFiles(codePath: string, icon: unknown): string[] {
	const names =
		typeof icon === 'string'
			? [icon]
			: icon && typeof icon === 'object'
				? Object.values(icon as Record<string, string>)
				: [];
	return names.map((name) => join(dirname(codePath), name.replace(/^file:/, '')));
}

describe('the published package', () => {
	it.each(PKG.n8n.nodes.map((path) => [path]))(
		'ships and loads the node %s, with its codex file and light and dark icons',
		(path) => {
			expect(shipped).toContain(path);
			const node = new (exportedClass<INodeType>(path))();
			expect(node.description.name).toBeTruthy();
			expect(typeof node.description.icon).toBe('object');
			const icons = iconFiles(path, node.description.icon);
			expect(icons).toHaveLength(2);
			for (const icon of icons) expect(shipped).toContain(icon);
			expect(shipped).toContain(path.replace(/\.js$/, '.json'));
			// The credentials lists spell the names out for n8n's linter; they must be the shared constants.
			expect(node.description.credentials?.find((c) => c.name === CREDENTIAL_NAME)).toMatchObject({
				required: true,
				testedBy: STORE_CREDENTIAL_TEST,
			});
			expect(typeof node.methods?.credentialTest?.[STORE_CREDENTIAL_TEST]).toBe('function');
		},
	);

	it.each(PKG.n8n.credentials.map((path) => [path]))(
		'ships and loads the credential %s, with light and dark icons',
		(path) => {
			expect(shipped).toContain(path);
			const credential = new (exportedClass<ICredentialType>(path))();
			expect(credential.name).toBeTruthy();
			const icons = iconFiles(path, credential.icon);
			expect(icons).toHaveLength(2);
			for (const icon of icons) expect(shipped).toContain(icon);
		},
	);

	it('ships the library entry named by main and types, and it loads the whole library', () => {
		expect(shipped).toEqual(expect.arrayContaining([PKG.main, PKG.types]));
		// Every lib module is loaded here, and each reads the Redis scripts it needs as it loads.
		// eslint-disable-next-line @typescript-eslint/no-require-imports -- the built module, loaded as n8n loads it
		const lib = require(join(unpacked, PKG.main)) as Record<string, unknown>;
		expect(typeof lib.ContactStore).toBe('function');
		expect(typeof lib.WebhookHandler).toBe('function');
	});

	it('ships README, LICENSE and CHANGELOG', () => {
		expect(shipped).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']));
		expect(readFileSync(join(unpacked, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
	});

	it('ships nothing but built code, its assets and the package documents', () => {
		const unexpected = shipped.filter(
			(path) =>
				!['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(path) &&
				!/^dist\/.+\.(js|d\.ts|js\.map|svg|png|node\.json|lua)$/.test(path),
		);
		expect(unexpected).toEqual([]);
		const notForUsers = shipped.filter((path) =>
			/(^|\/)(test|tests|__tests__|fixtures|bench|\.ci|scripts|tools|examples)\/|\.test\.|\.spec\./.test(path),
		);
		expect(notForUsers).toEqual([]);
	});

	it('ships every file the build wrote', () => {
		const built = execFileSync('find', ['dist', '-type', 'f'], { cwd: ROOT, encoding: 'utf8' })
			.split('\n')
			.filter((path) => path && !path.endsWith('.tsbuildinfo'));
		expect(built.length).toBeGreaterThan(100);
		expect(built.filter((path) => !shipped.includes(path))).toEqual([]);
		expect(existsSync(join(unpacked, 'dist', 'tsconfig.tsbuildinfo'))).toBe(false);
	});
});
