// `npm run bench`: runs every bench/*.bench.ts in turn. Each starts its own redis-server (and
// other peers) and prints its results as ratios against a baseline measured in the same run.
import { readdirSync } from 'fs';
import { join } from 'path';

async function main(): Promise<void> {
	const only = process.argv.slice(2);
	const files = readdirSync(__dirname)
		.filter((f) => f.endsWith('.bench.ts'))
		.filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
		.sort();
	for (const file of files) {
		console.log(`\n== ${file.replace('.bench.ts', '')} ==`);
		const mod = (await import(join(__dirname, file))) as { run: () => Promise<void> };
		await mod.run();
	}
}

main().then(
	() => process.exit(0),
	(error) => {
		console.error(error);
		process.exit(1);
	},
);
