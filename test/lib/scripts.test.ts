import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { basename, join } from 'path';
import {
	CONTACT_HASH_PREFIXES,
	CONTACT_KEY_SUFFIXES,
	CORE_TIME_FIELDS,
	SHARD_INDEXES,
	SHARD_KEY_PARTS,
} from '../../lib/keys';
import { DECAY_MODE_CODES, AWARD_KEY_KINDS, HALF_LIVES_KEPT } from '../../lib/scoring/decay';
import { VALUE_OPERATORS } from '../../lib/segments/operators';
import { createClient } from '../../lib/redis/connection';
import { closeAllStores } from '../../lib/redis/pool';
import { scripts, sourceLine, type Script } from '../../lib/redis/scripts';
import { replayToken } from '../../lib/redis/replayGuard';
import { openStore, storeConfig, topologies } from '../harness/store';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { assembleAll, GENERATED_HELPERS } = require('../../scripts/build-lua.js');

afterAll(() => closeAllStores());

const ROOT = join(__dirname, '..', '..');
const LIB = join(ROOT, 'lib');
const all = Object.values(scripts);

/** The 1-based line of `text` in a file of the repository (there must be exactly one). */
function lineOf(file: string, text: string): number {
	const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
	const found = lines.flatMap((line, i) => (line.includes(text) ? [i + 1] : []));
	expect(found).toHaveLength(1);
	return found[0];
}

describe('script registry', () => {
	it('has every lib/<concept>/lua/*.lua file, named after it, and nothing else', () => {
		const files = readdirSync(LIB).flatMap((dir) => {
			if (dir === 'redis') return [];
			try {
				return readdirSync(join(LIB, dir, 'lua')).filter((f) => f.endsWith('.lua'));
			} catch {
				return [];
			}
		});
		expect(files.length).toBeGreaterThan(15);
		expect(all.map((s) => s.name).sort()).toEqual(files.map((f) => `ma_${basename(f, '.lua')}`).sort());
	});

	it('maps every line of every assembled script back to the same text in its file', () => {
		const files = new Map<string, string[]>();
		const text = (file: string) => {
			if (!files.has(file)) files.set(file, readFileSync(join(ROOT, file), 'utf8').split('\n'));
			return files.get(file)!;
		};
		for (const script of all) {
			script.lua
				.replace(/\n$/, '')
				.split('\n')
				.forEach((line, i) => {
					const [file, at] = sourceLine(script, i + 1).split(':');
					expect(`${file}:${at} ${text(file)[Number(at) - 1]}`).toBe(`${file}:${at} ${line}`);
				});
		}
		// The helpers come in once each, where the script includes them.
		expect(scripts.applyContactChanges.lua.match(/local SUFFIX = /g)).toHaveLength(1);
		expect(scripts.releaseSend.lua).not.toContain('local function');
	});

	it('takes the number of keys from the header and marks the scripts that run each_item as batch scripts', () => {
		expect(scripts.confirmSend).toMatchObject({ numberOfKeys: 5, batch: false });
		expect(scripts.releaseEmail).toMatchObject({ numberOfKeys: 2, batch: false });
		expect(
			all
				.filter((s) => s.batch)
				.map((s) => s.name)
				.sort(),
		).toEqual([
			'ma_apply_contact_changes',
			'ma_apply_score',
			'ma_assign_variants',
			'ma_claim_emails',
			'ma_read_segment',
			'ma_record_events',
			'ma_set_tier',
			'ma_settle_emails',
			'ma_upgrade_contacts',
		]);
	});

	it('marks the write scripts that check a replay guard, whose last key is the guard', () => {
		const guarded = all.filter((s) => s.guarded);
		expect(guarded.map((s) => s.name).sort()).toEqual([
			'ma_apply_contact_changes',
			'ma_apply_score',
			'ma_assign_variants',
			'ma_confirm_send',
			'ma_dead_letter',
			'ma_record_events',
			'ma_record_outcome',
			'ma_set_tier',
		]);
		for (const script of guarded.filter((s) => s.batch))
			expect([script.name, script.numberOfKeys]).toEqual([script.name, 2]);
		expect(
			guarded
				.filter((s) => !s.batch)
				.map((s) => [s.name, s.numberOfKeys])
				.sort(),
		).toEqual([
			['ma_confirm_send', 5],
			['ma_dead_letter', 2],
			['ma_record_outcome', 4],
		]);
		// Erase withholds the answers guards keep, without checking a guard of its own.
		expect(scripts.eraseContact).toMatchObject({ guarded: false, numberOfKeys: 2 });
	});

	describe.each(topologies)('on a %s client from createClient', (topology) => {
		const client = createClient(storeConfig(topology));
		afterAll(() => client.quit());

		it('has every script defined, and the batch scripts (and on a cluster the reads) left out of auto-pipelining', async () => {
			const commands = client as unknown as Record<string, unknown>;
			for (const script of all) expect([script.name, typeof commands[script.name]]).toEqual([script.name, 'function']);
			const ignored = client.options.autoPipeliningIgnoredCommands!;
			expect(ignored.filter((name) => name.startsWith('ma_')).sort()).toEqual(
				all
					.filter((s) => s.batch)
					.map((s) => s.name)
					.sort(),
			);
			// A cluster's auto-pipeline of reads answered ASK is sent whole to the moving slot's new node
			// (test/lib/cluster.reshard.test.ts).
			const reads = ['hgetall', 'hget', 'hmget', 'zrange', 'smembers', 'exists', 'get'];
			expect(reads.filter((name) => ignored.includes(name))).toEqual(topology === 'cluster' ? reads : []);
			expect(ignored).not.toContain('hset');
		});
	});

	it('has scripts that all compile on Redis', async () => {
		const client = createClient(storeConfig('standalone'));
		try {
			for (const script of all) expect(await client.script('LOAD', script.lua)).toMatch(/^[0-9a-f]{40}$/);
		} finally {
			await client.quit();
		}
	});
});

describe('vocabularies shared with Lua (contact key suffixes, field rule operators, decay codes)', () => {
	const generated = Object.keys(GENERATED_HELPERS).map((name) => `${name}.lua`);
	const luaFiles = (dir: string): string[] =>
		readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
			d.isDirectory()
				? luaFiles(join(dir, d.name))
				: d.name.endsWith('.lua') && !generated.includes(d.name)
					? [join(dir, d.name)]
					: [],
		);
	/** Every `file:line text` of a hand-written Lua file whose code (comments left out) matches `pattern`. */
	const spelled = (pattern: RegExp, keep: (m: RegExpMatchArray) => boolean = () => true) =>
		luaFiles(LIB).flatMap((file) =>
			readFileSync(file, 'utf8')
				.split('\n')
				.flatMap((line, i) =>
					[...line.replace(/--.*$/, '').matchAll(pattern)]
						.filter(keep)
						.map((m) => `${file.slice(ROOT.length + 1)}:${i + 1} ${m[0]}`),
				),
		);

	it('has no contact key suffix spelled in a Lua file: scripts take them from lib/keys.ts through the helper "contact_keys"', () => {
		const suffixes = new Set<string>(Object.values(CONTACT_KEY_SUFFIXES));
		// ':k', ":sv:", ':lg:scope'...: a string that starts with a suffix between colons.
		expect(spelled(/(['"]):([a-z]+)(?::[^'"]*)?\1/g, (m) => suffixes.has(m[2]))).toEqual([]);
	});

	it('has no shard key part or core hash prefix spelled in a Lua file: they come from SHARD_KEY and HP', () => {
		const parts = new Set<string>(Object.values(SHARD_KEY_PARTS));
		expect(spelled(/(['"]):([a-z]+)[:'"]/g, (m) => parts.has(m[2]))).toEqual([]);
		const prefixes = new Set<string>(Object.values(CONTACT_HASH_PREFIXES));
		expect(spelled(/(['"])([a-z]:)/g, (m) => prefixes.has(m[2]))).toEqual([]);
	});

	it('has no shard index name or score model field prefix spelled in a Lua file: they come from IX and HP', () => {
		// An index key built from a literal: `SHARD_KEY.index .. 'act'`, `ix .. 'tag:'`.
		expect(spelled(/(?:SHARD_KEY\.index|\bix)\s*\.\.\s*['"]/g)).toEqual([]);
		// A per-value index kind or a longer core hash prefix as a literal ('tag:', 'scoremin:', 'grade:').
		const named = new Set<string>([
			...Object.values(SHARD_INDEXES).filter((name) => name.endsWith(':')),
			...Object.values(CONTACT_HASH_PREFIXES).filter((prefix) => prefix.length > 2),
		]);
		expect(spelled(/(['"])\^?([A-Za-z]+:)/g, (m) => named.has(m[2]))).toEqual([]);
	});

	it('has no value operator name or decay code spelled in a Lua file: they come from the helpers "operators" and "decay"', () => {
		const operators = new Set<string>(VALUE_OPERATORS);
		// (OP['in'] is how Lua names the operator "in", a Lua keyword.)
		expect(spelled(/(?<!\bOP\[)(['"])(\w+)\1/g, (m) => operators.has(m[2]))).toEqual([]);
		// In the scoring scripts, an award's decay mode compared with a letter, or an award value written with one ("|n|0").
		expect(spelled(/mode\s*[~=]=\s*['"]|['"]\|[a-z]\|/g).filter((at) => at.startsWith('lib/scoring/'))).toEqual([]);
	});

	it('has no field value type code spelled in a Lua file: it comes from the helper "field_types"', () => {
		// A stored value's first letter compared with a literal ("kind == 'n'").
		expect(spelled(/kind\s*[~=]=\s*['"][a-z]['"]/g)).toEqual([]);
	});

	it('reach Lua as the TypeScript tables have them', async () => {
		const client = createClient(storeConfig('standalone'));
		try {
			for (const [name, make] of Object.entries(GENERATED_HELPERS) as Array<
				[string, () => { tables: Record<string, Record<string, unknown>> }]
			>) {
				const { tables } = make();
				const lua =
					readFileSync(join(LIB, 'redis', 'lua', `${name}.lua`), 'utf8') +
					`\nreturn cjson.encode({ ${Object.keys(tables)
						.map((t) => `${t} = ${t}`)
						.join(', ')} })`;
				expect(JSON.parse((await client.eval(lua, 0)) as string)).toEqual(tables);
			}
			const { tables } = GENERATED_HELPERS.contact_keys();
			expect(tables.SUFFIX).toEqual(
				Object.fromEntries(Object.entries(CONTACT_KEY_SUFFIXES).map(([kind, suffix]) => [kind, `:${suffix}`])),
			);
			expect(Object.keys(tables.CORE_TIME_FIELDS)).toEqual([...CORE_TIME_FIELDS]);
			expect(Object.keys(GENERATED_HELPERS.operators().tables.OP)).toEqual(VALUE_OPERATORS);
			expect(GENERATED_HELPERS.decay().tables).toEqual({
				DECAY_MODE: DECAY_MODE_CODES,
				DECAY: { halfLivesKept: HALF_LIVES_KEPT },
				AWARD: AWARD_KEY_KINDS,
			});
		} finally {
			await client.quit();
		}
	});
});

describe('a Lua error', () => {
	const { store } = openStore('standalone');
	const shard = store.keys.shard(store.keys.shardOfContact('lua-error'));
	const guard = () => store.keys.replayGuard(store.keys.shardOfContact('lua-error'), replayToken());
	const message = async (script: Script, keys: string[], args: Array<string | number>) =>
		store.run(script, keys, args).then(
			() => 'no error',
			(error: Error) => error.message,
		);

	it("names the script's file and line", async () => {
		const text = await message(scripts.recordEvents, [shard, guard()], ['not json']);
		expect(text).toContain(
			`lib/events/lua/record_events.lua:${lineOf('lib/events/lua/record_events.lua', 'cjson.decode(ARGV[1])')}:`,
		);
		expect(text).not.toContain('user_script');
	});

	it('in a helper names the helper file and line', async () => {
		const text = await message(scripts.setTier, [shard, guard()], [JSON.stringify({ tiers: [] }), 'not a number']);
		expect(text).toContain(
			`lib/redis/lua/batch.lua:${lineOf('lib/redis/lua/batch.lua', 'for i = 1, tonumber(ARGV[2]) do')}:`,
		);
	});

	it("of one item of a batch names the line in that item's error", async () => {
		await store.contacts.upsert([{ id: 'lua-error' }]);
		// An event name that is not a string fails the item where set_tier.lua reads its time.
		const shared = {
			now: 0,
			tiers: [{ names: ['A', 'B'], bounds: [1], events: [{}] }],
			source: 'test',
			limits: store.limits,
		};
		const [result] = await store.runBatch({
			script: scripts.setTier,
			items: ['lua-error'],
			contactOf: (id) => id,
			argsOf: (id) => [id, 1, '[]'],
			shared: JSON.stringify(shared),
		});
		expect(result.ok).toBe(false);
		const line = lineOf('lib/engagement/lua/set_tier.lua', 'HP.counter .. name');
		expect(!result.ok && result.error.message).toContain(`lib/engagement/lua/set_tier.lua:${line}:`);
	});
});

describe('scripts/build-lua.js', () => {
	let lib: string;
	beforeEach(() => {
		lib = mkdtempSync(join(tmpdir(), 'ma-lua-'));
		cpSync(join(LIB, 'redis', 'lua'), join(lib, 'redis', 'lua'), { recursive: true });
		mkdirSync(join(lib, 'demo', 'lua'), { recursive: true });
	});
	afterEach(() => rmSync(lib, { recursive: true, force: true }));
	const write = (lines: string[]) =>
		writeFileSync(join(lib, 'demo', 'lua', 'demo_script.lua'), lines.join('\n') + '\n');
	const header = ['-- A demo.', '-- KEYS[1] contact base', '-- ARGV[1] key'];
	const shardHeader = ['-- A demo.', '-- KEYS[1] contact base', '-- KEYS[2] shard prefix', '-- ARGV[1] key'];

	it('assembles a script with its includes once each, its key count and a line map', () => {
		write([
			...shardHeader,
			'--- @include "events"',
			'--- @include "contact"',
			"touch_activity(KEYS[1], 'x', 'id', 0)",
			"return ensure_contact(KEYS[1], 'x', 'id', 0)",
		]);
		const [script] = assembleAll(lib);
		expect(script).toMatchObject({ id: 'demoScript', name: 'ma_demo_script', numberOfKeys: 2, batch: false });
		expect(script.lua.match(/local SUFFIX = /g)).toHaveLength(1);
		const lines = script.lua.split('\n');
		const own = lines.indexOf("touch_activity(KEYS[1], 'x', 'id', 0)") + 1;
		expect(sourceLine(script, own)).toMatch(/demo\/lua\/demo_script\.lua:7$/);
	});

	it('fails a script that builds key names without declaring the shard prefix and another key', () => {
		const touches = ['--- @include "contact_keys"', "return redis.call('EXISTS', KEYS[1] .. SUFFIX.events)"];
		write([...header, ...touches]);
		expect(() => assembleAll(lib)).toThrow(/demo_script\.lua: builds key names: declare the shard prefix/);
		write([...header, "return redis.call('HGET', KEYS[1] .. ':at', ARGV[1])"]);
		expect(() => assembleAll(lib)).toThrow(/builds key names/);
		write(['-- A demo.', '-- KEYS[1] contact base', '-- KEYS[2] other', '-- ARGV[1] key', ...touches]);
		expect(() => assembleAll(lib)).toThrow(/builds key names/);
		write([...shardHeader, ...touches]);
		expect(() => assembleAll(lib)).not.toThrow();
		write([...header, "return redis.call('HGET', KEYS[1], ARGV[1])"]);
		expect(() => assembleAll(lib)).not.toThrow();
	});

	it('fails a script that uses a helper it does not include', () => {
		write([...header, "return ensure_contact(KEYS[1], 'x', 'id', 0)"]);
		expect(() => assembleAll(lib)).toThrow(/demo_script\.lua: uses ensure_contact without --- @include "contact"/);
	});

	it('fails a script that includes a helper it does not use', () => {
		write([
			...header,
			'--- @include "contact"',
			'--- @include "batch"',
			"return ensure_contact(KEYS[1], 'x', 'id', 0)",
		]);
		expect(() => assembleAll(lib)).toThrow(/demo_script\.lua:5: includes "batch" but uses none of its names/);
	});

	it('fails a script that names a key a generated table lacks (OP, SUFFIX, DECAY_MODE...)', () => {
		write([
			...header,
			'--- @include "operators"',
			"return KEYS[1] == OP.equals or KEYS[1] == OP['in'] or KEYS[1] == OP.equalz",
		]);
		expect(() => assembleAll(lib)).toThrow(/demo_script\.lua: uses OP\.equalz, which OP does not have/);
		write([...header, '--- @include "operators"', "return KEYS[1] == OP['inn']"]);
		expect(() => assembleAll(lib)).toThrow(/uses OP\.inn/);
		write([...header, '--- @include "operators"', "return KEYS[1] == OP.equals or KEYS[1] == OP['in']"]);
		expect(() => assembleAll(lib)).not.toThrow();
	});

	it('fails a script without a header, or one that uses a KEYS or ARGV its header does not name', () => {
		write(['return 1']);
		expect(() => assembleAll(lib)).toThrow(/no header/);
		write([...header, 'return KEYS[2]']);
		expect(() => assembleAll(lib)).toThrow(/uses KEYS\[2\]; the header documents 1 keys/);
		write([...header, 'return ARGV[2]']);
		expect(() => assembleAll(lib)).toThrow(/uses ARGV\[2\], which its header does not document/);
	});

	it('marks a script that checks a replay guard, and fails one whose header does not name its guard key', () => {
		const guarded = (keys: string[]) => [
			'-- A demo.',
			...keys,
			'-- ARGV[1] shared',
			'-- ARGV[2] item count',
			'-- ARGV[3...] items',
			'--- @include "batch"',
			'--- @include "replay_guard"',
			'local replayed = replayed_answer(KEYS[1], KEYS[2])',
			'if replayed then return replayed end',
			'return guarded_answer(KEYS[1], KEYS[2], each_item(function() return 1 end))',
		];
		write(guarded(['-- KEYS[1] shard prefix', '-- KEYS[2] replay guard of the call']));
		expect(assembleAll(lib)[0]).toMatchObject({ batch: true, guarded: true, numberOfKeys: 2 });
		write(guarded(['-- KEYS[1] shard prefix', '-- KEYS[2] another key']));
		expect(() => assembleAll(lib)).toThrow(/its last key, KEYS\[2\], is the guard/);
		// Not a batch script: its caller passes the guard (store.replayGuard).
		const single = (keys: string[]) => [
			'-- A demo.',
			...keys,
			'-- ARGV[1] value',
			'--- @include "replay_guard"',
			'local replayed = replayed_answer(KEYS[1], KEYS[2])',
			'if replayed then return replayed end',
			"return guarded_answer(KEYS[1], KEYS[2], redis.call('INCR', KEYS[1] .. ARGV[1]))",
		];
		write(single(['-- KEYS[1] shard prefix', '-- KEYS[2] replay guard of the call']));
		expect(assembleAll(lib)[0]).toMatchObject({ batch: false, guarded: true, numberOfKeys: 2 });
		write(single(['-- KEYS[1] replay guard of the call', '-- KEYS[2] shard prefix']));
		expect(() => assembleAll(lib)).toThrow(/its last key, KEYS\[2\], is the guard/);
	});
});
