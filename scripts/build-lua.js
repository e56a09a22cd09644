#!/usr/bin/env node
// Builds lib/redis/scripts.generated.ts, the pack's Redis scripts as TypeScript data, from the Lua
// files: every lib/<concept>/lua/<name>.lua is a script; lib/redis/lua/<helper>.lua are helpers.
// Run by `npm run build`, `npm test`, jest's global setup and `npm run bench`; the output is not
// committed (one source of truth, nothing read from disk at run time).
//
// A script starts with a header of `--` comment lines that names each KEYS[n] and ARGV[n] it takes
// (one line each, `ARGV[n...]` for "from n on"). `--- @include "<helper>"` lines come after the
// header and are replaced by the helper (its own includes first, each helper once per script). A
// file includes exactly the helpers whose names (functions, tables) it uses. The script's number
// of keys comes from its header; a script that includes "batch" (each_item) is a batch script
// (ContactStore.runBatch).
// Redis reports errors at lines of the assembled script: each script carries a line map back to
// the files (lib/redis/scripts.ts locateScriptError).
// The helpers "contact_keys", "operators" and "decay" are written here too, from lib's tables
// (GENERATED_HELPERS): Lua gets every vocabulary it shares with TypeScript from them.
const { readdirSync, readFileSync, writeFileSync, existsSync } = require('fs');
const { dirname, join, relative, basename } = require('path');
const ts = require('typescript');

const ROOT = join(__dirname, '..');
const LIB = join(ROOT, 'lib');
const OUTPUT = join(LIB, 'redis', 'scripts.generated.ts');

const INCLUDE = /^--- @include "([\w-]+)"\s*$/;
/** A file's top-level names: `local function name` and `local name =` at the start of a line. */
const TOP_LEVEL = /^local (?:function )?([A-Za-z_]\w*)/gm;

class LuaBuildError extends Error {}

function fail(file, line, message) {
	throw new LuaBuildError(`${relative(ROOT, file)}${line ? `:${line}` : ''}: ${message}`);
}

/** Lua text without comments and string literals, line breaks kept (so names in them don't count). */
function codeOnly(text) {
	return text.replace(
		/--\[(=*)\[[\s\S]*?\]\1\]|--[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\[(=*)\[[\s\S]*?\]\3\]/g,
		(m) => m.replace(/[^\n]/g, ' '),
	);
}

/** A helper or script file: its lines, direct includes (with their line), own function names. */
function readLua(file) {
	const text = readFileSync(file, 'utf8').replace(/\n$/, '');
	const lines = text.split('\n');
	const includes = [];
	lines.forEach((line, i) => {
		const m = INCLUDE.exec(line);
		if (m) includes.push({ name: m[1], line: i + 1 });
		else if (/@include/.test(line)) fail(file, i + 1, 'an include is written --- @include "<helper>"');
	});
	const defines = [...codeOnly(text).matchAll(TOP_LEVEL)].map((m) => m[1]);
	return { file, lines, includes, defines };
}

/** The helpers of a lib folder (lib/redis/lua/<name>.lua), read once. */
function helpersOf(lib) {
	const dir = join(lib, 'redis', 'lua');
	const cache = new Map();
	const path = (name) => join(dir, `${name}.lua`);
	return {
		path,
		names: () =>
			readdirSync(dir)
				.filter((f) => f.endsWith('.lua'))
				.map((f) => basename(f, '.lua')),
		get(name, from, line) {
			if (!cache.has(name)) {
				if (!existsSync(path(name))) fail(from, line, `no helper "${name}" (lib/redis/lua/${name}.lua)`);
				cache.set(name, readLua(path(name)));
			}
			return cache.get(name);
		},
	};
}

/** Fails unless `lua` includes exactly the helpers whose names it uses. */
function checkIncludes(lua, helpers) {
	const code = codeOnly(lua.lines.join('\n'));
	const uses = (name) => new RegExp(`(?<![\\w.:])${name}\\b`).test(code);
	const included = new Set(lua.includes.map((i) => i.name));
	for (const name of helpers.names()) {
		const used = helpers.get(name, lua.file).defines.filter((fn) => !lua.defines.includes(fn) && uses(fn));
		if (used.length > 0 && !included.has(name) && helpers.path(name) !== lua.file) {
			fail(lua.file, 0, `uses ${used.join(', ')} without --- @include "${name}"`);
		}
		const include = lua.includes.find((i) => i.name === name);
		if (include && used.length === 0) fail(lua.file, include.line, `includes "${name}" but uses none of its names`);
	}
}

/** Appends `lua` to `out` with its includes expanded (each helper once), mapping every line back. */
function expand(lua, helpers, out, seen, stack = []) {
	checkIncludes(lua, helpers);
	let segmentOpen = false;
	lua.lines.forEach((text, i) => {
		const m = INCLUDE.exec(text);
		if (!m) {
			if (!segmentOpen) out.sources.push([out.lines.length + 1, relative(ROOT, lua.file), i + 1]);
			segmentOpen = true;
			out.lines.push(text);
			return;
		}
		segmentOpen = false;
		if (stack.includes(m[1])) fail(lua.file, i + 1, `include cycle: ${[...stack, m[1]].join(' -> ')}`);
		if (seen.has(m[1])) return;
		seen.add(m[1]);
		expand(helpers.get(m[1], lua.file, i + 1), helpers, out, seen, [...stack, m[1]]);
	});
}

/** The header's KEYS and ARGV lines: number of keys, and the ARGV positions documented. */
function readHeader(script) {
	const header = [];
	for (const line of script.lines) {
		if (!line.startsWith('--') || INCLUDE.test(line)) break;
		header.push(line);
	}
	if (header.length === 0)
		fail(script.file, 1, 'no header: start with -- comment lines naming each KEYS[n] and ARGV[n]');
	const keys = [];
	const argv = [];
	for (const line of header) {
		const k = /^--\s*KEYS\[(\d+)\]/.exec(line);
		if (k) keys.push(Number(k[1]));
		const a = /^--\s*ARGV\[(\d+)(\.\.\.)?\]/.exec(line);
		if (a) argv.push({ at: Number(a[1]), rest: Boolean(a[2]) });
	}
	keys.forEach((n, i) => n !== i + 1 && fail(script.file, 0, `header: KEYS[${i + 1}] expected, found KEYS[${n}]`));
	if (keys.length === 0) fail(script.file, 0, 'header: no KEYS[1] line');
	return { numberOfKeys: keys.length, argv };
}

/** Fails when the assembled script uses a KEYS[n] or ARGV[n] its header does not document. */
function checkArguments(script, header, lua) {
	const code = codeOnly(lua);
	for (const m of code.matchAll(/\bKEYS\[(\d+)\]/g)) {
		if (Number(m[1]) > header.numberOfKeys)
			fail(script.file, 0, `uses KEYS[${m[1]}]; the header documents ${header.numberOfKeys} keys`);
	}
	for (const m of code.matchAll(/\bARGV\[(\d+)\]/g)) {
		const n = Number(m[1]);
		if (!header.argv.some((a) => a.at === n || (a.rest && n > a.at)))
			fail(script.file, 0, `uses ARGV[${n}], which its header does not document`);
	}
}

/**
 * A script that checks a replay guard (replayed_answer) takes its call's guard as its last key:
 * runBatch adds it to a batch script's call, the caller of any other passes store.replayGuard(shard)
 * (Keys.replayGuard, in the shard's slot, and store.run refuses the call without it), so the
 * header says so.
 */
function checkReplayGuardKey(script, header) {
	const last = script.lines.find((line) => new RegExp(`^--\\s*KEYS\\[${header.numberOfKeys}\\]`).test(line));
	if (!/replay guard/.test(last))
		fail(
			script.file,
			0,
			`checks a replay guard: its last key, KEYS[${header.numberOfKeys}], is the guard (say "replay guard" in the header)`,
		);
}

/**
 * A script that builds key names of its own (from a key it was given, or the shard's parts) touches
 * keys Redis does not see: it declares the shard prefix (never a key itself) and at least one other
 * key. While a Redis Cluster moves the shard's hash slot to another node, Redis then answers such a
 * call TRYAGAIN (a key missing on the node) and ioredis sends it again, instead of running it on a
 * node that holds only part of the shard's keys (test/lib/cluster.reshard.test.ts).
 */
function checkShardKeys(script, header, lua) {
	const code = codeOnly(lua);
	if (!/\bKEYS\[\d+\]\s*\.\.|\b(SUFFIX|SHARD_KEY)\.|\beach_item\b/.test(code)) return;
	const declared = script.lines.filter((line) => /^--\s*KEYS\[\d+\]/.test(line));
	if (header.numberOfKeys < 2 || !declared.some((line) => /^--\s*KEYS\[\d+\] shard prefix\b/.test(line)))
		fail(
			script.file,
			0,
			'builds key names: declare the shard prefix ("-- KEYS[n] shard prefix") and at least one other key, so that Redis answers TRYAGAIN while the shard\'s slot moves',
		);
}

function camel(name) {
	return name.replace(/_(\w)/g, (_, c) => c.toUpperCase());
}

/** Every script of a lib folder (lib/<concept>/lua/<name>.lua), assembled and checked. */
function assembleAll(lib = LIB, tables = generatedTables()) {
	const helpers = helpersOf(lib);
	const files = readdirSync(lib, { withFileTypes: true })
		.filter((d) => d.isDirectory() && d.name !== 'redis' && existsSync(join(lib, d.name, 'lua')))
		.flatMap((d) =>
			readdirSync(join(lib, d.name, 'lua'))
				.filter((f) => f.endsWith('.lua'))
				.map((f) => join(lib, d.name, 'lua', f)),
		)
		.sort();
	const byName = new Map();
	for (const file of files) {
		const id = camel(basename(file, '.lua'));
		if (byName.has(id)) fail(file, 0, `a script of the same name exists: ${relative(ROOT, byName.get(id).file)}`);
		const script = readLua(file);
		const header = readHeader(script);
		const out = { lines: [], sources: [] };
		const seen = new Set();
		expand(script, helpers, out, seen);
		const lua = out.lines.join('\n') + '\n';
		checkArguments(script, header, lua);
		checkTableKeys(script, lua, tables);
		const guarded = /\breplayed_answer\s*\(/.test(codeOnly(script.lines.join('\n')));
		if (guarded) checkReplayGuardKey(script, header);
		checkShardKeys(script, header, lua);
		byName.set(id, {
			id,
			file,
			name: `ma_${basename(file, '.lua')}`,
			numberOfKeys: header.numberOfKeys,
			batch: seen.has('batch'),
			guarded,
			lua,
			sources: out.sources,
		});
	}
	return [...byName.values()];
}

function render(scripts) {
	const entries = scripts.map((s) =>
		[
			`\t${s.id}: {`,
			`\t\tname: ${JSON.stringify(s.name)},`,
			`\t\tnumberOfKeys: ${s.numberOfKeys},`,
			`\t\tbatch: ${s.batch},`,
			`\t\tguarded: ${s.guarded},`,
			`\t\tsources: ${JSON.stringify(s.sources)},`,
			`\t\tlua: ${JSON.stringify(s.lua)},`,
			'\t},',
		].join('\n'),
	);
	return [
		'// Generated by scripts/build-lua.js from lib/*/lua/*.lua and lib/redis/lua/*.lua: do not edit.',
		"import type { Script } from './scripts';",
		'',
		`export type ScriptId = ${scripts.map((s) => `'${s.id}'`).join(' | ')};`,
		'',
		'export const scripts: Readonly<Record<ScriptId, Script>> = {',
		...entries,
		'};',
		'',
	].join('\n');
}

/** A TypeScript module of lib, compiled in memory (its relative imports too). */
function loadTs(file) {
	const module = { exports: {} };
	const js = ts.transpileModule(readFileSync(file, 'utf8'), {
		compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
	});
	const local = (id) => [`${id}.ts`, join(id, 'index.ts')].map((f) => join(dirname(file), f)).find(existsSync);
	const localRequire = (id) => (id.startsWith('.') ? loadTs(local(id)) : require(id));
	new Function('require', 'module', 'exports', js.outputText)(localRequire, module, module.exports);
	return module.exports;
}

const LUA_RESERVED = new Set(
	'and break do else elseif end false for function goto if in local nil not or repeat return then true until while'.split(
		' ',
	),
);
/** A name Lua code can write as TABLE.name; others are written TABLE['name'] (the operator "in"). */
const luaName = (key) => /^[A-Za-z_]\w*$/.test(key) && !LUA_RESERVED.has(key);

/** A Lua table constructor from a flat object of strings, numbers and booleans. */
function luaTable(entries) {
	return `{ ${Object.entries(entries)
		.map(
			([key, value]) =>
				`${luaName(key) ? key : `[${JSON.stringify(key)}]`} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
		)
		.join(', ')} }`;
}

/**
 * Helpers written here from lib's tables, so that Lua never restates a vocabulary: each is
 * lib/redis/lua/<name>.lua, defining the Lua tables in `tables` (every script's TABLE.key is checked).
 */
const GENERATED_HELPERS = {
	contact_keys: () => {
		const keys = loadTs(join(LIB, 'keys.ts'));
		return {
			from: 'lib/keys.ts (CONTACT_KEY_SUFFIXES, CONTACT_HASH_PREFIXES, SHARD_KEY_PARTS, SHARD_INDEXES, CORE_TIME_FIELDS, EVENT_TIME_*, DEAD_LETTER_REPLAYS, REPLAY_GUARD_MS, REPLAY_ANSWER_MS)',
			about: [
				"A contact's other keys: base .. SUFFIX.<kind>, and base .. SUFFIX.<kind> .. ':' .. name for the kinds kept",
				"per score model or Loop Guard scope. HP: field-name prefixes of the core hash. SHARD_KEY: a shard's own keys",
				'(shard .. SHARD_KEY.log; indexes shard .. SHARD_KEY.index .. IX.<kind>, IX.tag .. tag). CORE_TIME_FIELDS: core',
				'fields holding epoch ms. REPLAY_GUARD: how long a replay guard remembers its call ran (ms) and keeps its answer (answerMs).',
			],
			tables: {
				SUFFIX: Object.fromEntries(
					Object.entries(keys.CONTACT_KEY_SUFFIXES).map(([kind, suffix]) => [kind, `:${suffix}`]),
				),
				HP: keys.CONTACT_HASH_PREFIXES,
				SHARD_KEY: Object.fromEntries(
					Object.entries(keys.SHARD_KEY_PARTS).map(([kind, part]) => [
						kind,
						['contact', 'index', 'deadLetters', 'experiments', 'analytics', 'replayGuards'].includes(kind)
							? `:${part}:`
							: `:${part}`,
					]),
				),
				EVENT_TIME: {
					offset: keys.EVENT_TIME_OFFSET,
					format: `%0${keys.EVENT_TIME_DIGITS}d`,
				},
				IX: keys.SHARD_INDEXES,
				DEAD_LETTER: { replays: keys.DEAD_LETTER_REPLAYS },
				REPLAY_GUARD: { ms: keys.REPLAY_GUARD_MS, answerMs: keys.REPLAY_ANSWER_MS },
				CORE_TIME_FIELDS: Object.fromEntries([...keys.CORE_TIME_FIELDS].map((name) => [name, true])),
			},
		};
	},
	operators: () => {
		const { OPERATOR_TABLE } = loadTs(join(LIB, 'segments', 'operators.ts'));
		return {
			from: 'lib/segments/operators.ts OPERATOR_TABLE',
			about: [
				'The value operators, which Lead Score field rules and Segment Filter conditions evaluated in Lua use:',
				'OP.<operator> is its name.',
			],
			tables: { OP: Object.fromEntries(Object.keys(OPERATOR_TABLE).map((op) => [op, op])) },
		};
	},
	field_types: () => {
		const { FIELD_TYPE_CODES } = loadTs(join(LIB, 'values.ts'));
		return {
			from: 'lib/values.ts FIELD_TYPE_CODES',
			about: ['A typed field value is stored as "<FIELD_TYPE code>:<text>".'],
			tables: { FIELD_TYPE: FIELD_TYPE_CODES },
		};
	},
	decay: () => {
		const { DECAY_MODE_CODES, HALF_LIVES_KEPT, AWARD_KEY_KINDS } = loadTs(join(LIB, 'scoring', 'decay.ts'));
		return {
			from: 'lib/scoring/decay.ts DECAY_MODE_CODES, HALF_LIVES_KEPT and AWARD_KEY_KINDS',
			about: [
				'An award is stored as "points|<DECAY_MODE code>|periodMs"; a halving one is dropped after DECAY.halfLivesKept half-lives.',
			],
			tables: { DECAY_MODE: DECAY_MODE_CODES, DECAY: { halfLivesKept: HALF_LIVES_KEPT }, AWARD: AWARD_KEY_KINDS },
		};
	},
};

/** Every generated helper's Lua tables: name -> entries. */
function generatedTables() {
	return Object.assign({}, ...Object.values(GENERATED_HELPERS).map((make) => make().tables));
}

function renderHelper(helper) {
	return [
		`-- Generated by scripts/build-lua.js from ${helper.from}: do not edit.`,
		...helper.about.map((line) => `-- ${line}`),
		...Object.entries(helper.tables).map(([name, entries]) => `local ${name} = ${luaTable(entries)}`),
		'',
	].join('\n');
}

/** Fails when a script names a key that its generated table lacks (TABLE.key would be nil). */
function checkTableKeys(script, lua, tables) {
	const code = codeOnly(lua);
	for (const [name, entries] of Object.entries(tables)) {
		const uses = [
			...[...code.matchAll(new RegExp(`(?<![\\w.:])${name}\\.([A-Za-z_]\\w*)`, 'g'))].map((m) => m[1]),
			// TABLE['key'] (string literals are blanked in `code`: read the text).
			...[...lua.matchAll(new RegExp(`(?<![\\w.:])${name}\\[(["'])(.*?)\\1\\]`, 'g'))].map((m) => m[2]),
		];
		for (const key of uses) {
			if (!(key in entries))
				fail(script.file, 0, `uses ${name}.${key}, which ${name} does not have (see GENERATED_HELPERS)`);
		}
	}
}

function writeIfChanged(file, text) {
	if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
}

/** Writes the generated helpers, then the scripts module, each when its content changed. */
function buildScripts() {
	for (const [name, make] of Object.entries(GENERATED_HELPERS))
		writeIfChanged(join(LIB, 'redis', 'lua', `${name}.lua`), renderHelper(make()));
	writeIfChanged(OUTPUT, render(assembleAll()));
	return OUTPUT;
}

module.exports = { buildScripts, assembleAll, GENERATED_HELPERS, LuaBuildError };

if (require.main === module) {
	try {
		buildScripts();
	} catch (error) {
		if (!(error instanceof LuaBuildError)) throw error;
		console.error(`Lua scripts: ${error.message}`);
		process.exit(1);
	}
}
