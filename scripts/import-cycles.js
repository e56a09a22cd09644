#!/usr/bin/env node
// Finds import cycles among the TypeScript files under the given folders (default lib/ and nodes/):
// relative imports and re-exports only, and only those that remain at run time (`import type`,
// and imports whose names are all `type`, are erased by the compiler and cannot form a cycle of
// modules). Prints each cycle and exits 1 when there is one.
const { existsSync, readdirSync, readFileSync, statSync } = require('fs');
const { dirname, join, relative, resolve } = require('path');
const ts = require('typescript');

const ROOT = join(__dirname, '..');

function tsFiles(dir) {
	return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
		const path = join(dir, d.name);
		if (d.isDirectory()) return d.name === 'node_modules' ? [] : tsFiles(path);
		return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [path] : [];
	});
}

/** The relative modules a file needs at run time. */
function runtimeImports(file) {
	const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
	const specifiers = [];
	for (const statement of source.statements) {
		if (ts.isImportDeclaration(statement)) {
			const clause = statement.importClause;
			const typeOnly =
				clause &&
				(clause.isTypeOnly ||
					(!clause.name &&
						clause.namedBindings &&
						ts.isNamedImports(clause.namedBindings) &&
						clause.namedBindings.elements.length > 0 &&
						clause.namedBindings.elements.every((e) => e.isTypeOnly)));
			if (!typeOnly) specifiers.push(statement.moduleSpecifier.text);
		} else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier) {
			const typeOnly =
				statement.isTypeOnly ||
				(statement.exportClause &&
					ts.isNamedExports(statement.exportClause) &&
					statement.exportClause.elements.every((e) => e.isTypeOnly));
			if (!typeOnly) specifiers.push(statement.moduleSpecifier.text);
		}
	}
	return specifiers
		.filter((s) => s.startsWith('.'))
		.map((s) => resolve(dirname(file), s))
		.map((base) => [`${base}.ts`, join(base, 'index.ts')].find((f) => existsSync(f) && statSync(f).isFile()))
		.filter(Boolean);
}

/** Every cycle, as the list of files around it (relative to `root`), each found once. */
function findCycles(dirs, root = ROOT) {
	const files = dirs.flatMap((d) => tsFiles(resolve(root, d)));
	const graph = new Map(files.map((f) => [f, runtimeImports(f)]));
	const cycles = [];
	const seen = new Set();
	const state = new Map(); // 1: on the current path, 2: done
	const path = [];
	const visit = (file) => {
		state.set(file, 1);
		path.push(file);
		for (const next of graph.get(file) ?? []) {
			if (state.get(next) === 1) {
				const cycle = path.slice(path.indexOf(next)).map((f) => relative(root, f));
				// The same cycle entered elsewhere is the same cycle: key it by its smallest rotation.
				const start = cycle.indexOf([...cycle].sort()[0]);
				const key = [...cycle.slice(start), ...cycle.slice(0, start)].join(' -> ');
				if (!seen.has(key)) {
					seen.add(key);
					cycles.push([...cycle, cycle[0]]);
				}
			} else if (!state.has(next) && graph.has(next)) {
				visit(next);
			}
		}
		path.pop();
		state.set(file, 2);
	};
	for (const file of files) if (!state.has(file)) visit(file);
	return cycles;
}

module.exports = { findCycles };

if (require.main === module) {
	const dirs = process.argv.slice(2);
	const cycles = findCycles(dirs.length > 0 ? dirs : ['lib', 'nodes']);
	for (const cycle of cycles) console.error(`import cycle: ${cycle.join(' -> ')}`);
	process.exit(cycles.length > 0 ? 1 : 0);
}
