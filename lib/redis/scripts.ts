import { readFileSync } from 'fs';
import { join } from 'path';
import type { RedisClient } from './connection';

const COMMON = readFileSync(join(__dirname, 'lua', 'common.lua'), 'utf8');

export interface Script {
	/** Command name registered on the client, unique across the pack. */
	readonly name: string;
	readonly numberOfKeys: number;
	readonly lua: string;
	/** A batch script (ContactStore.runBatch): its calls are not auto-pipelined (see runScript). */
	readonly batch?: boolean;
}

/** Loads `<dir>/lua/<file>.lua` with the shared helpers in front. */
export function defineScript(dir: string, file: string, numberOfKeys: number, options: { batch?: boolean } = {}): Script {
	return {
		name: `ma_${file}`,
		numberOfKeys,
		lua: COMMON + '\n' + readFileSync(join(dir, 'lua', `${file}.lua`), 'utf8'),
		...(options.batch ? { batch: true } : {}),
	};
}

const defined = new WeakMap<RedisClient, Set<string>>();

/** EVALSHA with EVAL fallback (ioredis handles NOSCRIPT); auto-pipelined with concurrent calls, batch scripts excepted. */
export async function runScript<T = unknown>(
	redis: RedisClient,
	script: Script,
	keys: string[],
	args: Array<string | number>,
): Promise<T> {
	let names = defined.get(redis);
	if (!names) defined.set(redis, (names = new Set()));
	if (!names.has(script.name)) {
		redis.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
		names.add(script.name);
		// ioredis runs one auto-pipeline per connection at a time: a batch's later chunks would wait
		// for all the replies of the earlier ones. Sent directly, they go out as they are built and
		// Redis is never idle while this process builds the next ones.
		if (script.batch) {
			// A new array: the default one is shared by every client of the process.
			const options = redis.options as { autoPipeliningIgnoredCommands: string[] };
			options.autoPipeliningIgnoredCommands = [...options.autoPipeliningIgnoredCommands, script.name];
		}
		// ioredis copies custom commands into a pipeline when it creates it; an auto-pipeline already
		// queued (other commands of the same tick) would lack this one and lose the batch's replies
		// ("results[i] is not iterable"). Give it the new command too.
		const client = redis as unknown as { _autoPipelines?: Map<string, Record<string, unknown>>; scriptsSet?: Record<string, { sha: string }> };
		const defined = client.scriptsSet?.[script.name];
		for (const pipeline of client._autoPipelines?.values() ?? []) {
			pipeline[script.name] = (redis as unknown as Record<string, unknown>)[script.name];
			if (defined) (pipeline._shaToScript as Record<string, unknown>)[defined.sha] = defined;
		}
	}
	const command = (redis as unknown as Record<string, (...a: unknown[]) => Promise<T>>)[script.name];
	return command.call(redis, ...keys, ...args);
}
