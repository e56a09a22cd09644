/**
 * The docs a user follows: every link in README.md and docs/ and every documentation URL of a node
 * (codex) or credential leads to a file of this repository and, with a #anchor, to a heading in it.
 */
import { execFileSync } from 'child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import { dirname, join, relative, resolve } from 'path';

const ROOT = resolve(__dirname, '..');
const BLOB = '/blob/main/';

function markdownFiles(dir: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const path = join(dir, name);
		return statSync(path).isDirectory() ? markdownFiles(path) : name.endsWith('.md') ? [path] : [];
	});
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
	return heading
		.trim()
		.toLowerCase()
		.replace(/[^\p{L}\p{N} _-]/gu, '')
		.replace(/ /g, '-');
}

function anchorsIn(file: string): Set<string> {
	const headings = readFileSync(file, 'utf8')
		.split('\n')
		.filter((line) => /^#{1,6} /.test(line))
		.map((line) => anchorOf(line.replace(/^#+ /, '')));
	return new Set(headings);
}

/** Why `target` (a repository path, maybe with #anchor) does not resolve, or undefined. */
function brokenTarget(target: string): string | undefined {
	const [path, anchor] = target.split('#');
	if (!existsSync(path)) return `${relative(ROOT, path)} does not exist`;
	if (anchor && !anchorsIn(path).has(anchor)) return `${relative(ROOT, path)} has no heading #${anchor}`;
	return undefined;
}

const docs = [join(ROOT, 'README.md'), ...markdownFiles(join(ROOT, 'docs'))];

describe('documentation links', () => {
	it.each(docs.map((file) => [relative(ROOT, file), file]))('every relative link in %s resolves', (_name, file) => {
		const text = readFileSync(file, 'utf8');
		const broken = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
			.map((m) => m[1])
			.filter((href) => !/^[a-z]+:/i.test(href))
			.map((href) => [href, brokenTarget(href.startsWith('#') ? file + href : resolve(dirname(file), href))])
			.filter(([, why]) => why);
		expect(broken).toEqual([]);
	});

	it('every documentation URL of a node or credential points at a docs file and heading here', () => {
		const sources = [
			...readdirSync(join(ROOT, 'nodes')).flatMap((dir) =>
				existsSync(join(ROOT, 'nodes', dir))
					? readdirSync(join(ROOT, 'nodes', dir))
							.filter((f) => f.endsWith('.node.json'))
							.map((f) => join(ROOT, 'nodes', dir, f))
					: [],
			),
			...readdirSync(join(ROOT, 'credentials'))
				.filter((f) => f.endsWith('.credentials.ts'))
				.map((f) => join(ROOT, 'credentials', f)),
		];
		const urls = sources.flatMap((file) =>
			[...readFileSync(file, 'utf8').matchAll(/https:\/\/[^'"\s]+/g)].map((m) => [relative(ROOT, file), m[0]]),
		);
		expect(urls.length).toBeGreaterThanOrEqual(11);
		const broken = urls
			.map(([file, url]) => [
				file,
				url,
				url.includes(BLOB) ? brokenTarget(join(ROOT, url.split(BLOB)[1])) : 'not a link into this repository',
			])
			.filter(([, , why]) => why);
		expect(broken).toEqual([]);
	});

	it('the README stays short enough to read in five minutes', () => {
		expect(statSync(join(ROOT, 'README.md')).size).toBeLessThanOrEqual(10 * 1024);
	});
});

describe('tracked files', () => {
	it('carry no leftover merge-conflict markers', () => {
		// git grep exits 1 when nothing matches: that is the passing case.
		let hits = '';
		try {
			hits = execFileSync(
				'git',
				['grep', '-n', '-E', '^(<<<<<<< |>>>>>>> |=======$)', '--', '.', ':!package-lock.json'],
				{ cwd: ROOT, encoding: 'utf8' },
			);
		} catch (error) {
			if ((error as { status?: number }).status !== 1) throw error;
		}
		expect(hits).toBe('');
	});
});
