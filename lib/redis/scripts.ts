import { readFileSync } from 'fs';
import { join } from 'path';
import type { RedisClient } from './connection';

const COMMON = readFileSync(join(__dirname, 'lua', 'common.lua'), 'utf8');

export interface Script {
	/** Command name registered on the client, unique across the pack. */
	readonly name: string;
	readonly numberOfKeys: number;
	readonly lua: string;
}

/** Loads `<dir>/lua/<file>.lua` with the shared helpers in front. */
export function defineScript(dir: string, file: string, numberOfKeys: number): Script {
	return {
		name: `ma_${file}`,
		numberOfKeys,
		lua: COMMON + '\n' + readFileSync(join(dir, 'lua', `${file}.lua`), 'utf8'),
	};
}

const defined = new WeakMap<RedisClient, Set<string>>();

/** EVALSHA with EVAL fallback (ioredis handles NOSCRIPT); auto-pipelined with concurrent calls. */
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
	}
	const command = (redis as unknown as Record<string, (...a: unknown[]) => Promise<T>>)[script.name];
	return command.call(redis, ...keys, ...args);
}
