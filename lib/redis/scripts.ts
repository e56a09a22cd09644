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

const definedOn = new WeakMap<RedisClient, Map<string, Promise<void>>>();

/**
 * Runs a script as an ioredis custom command: EVALSHA with EVAL fallback, auto-pipelined with the
 * other commands of the tick. (A plain EVALSHA would be grouped on a cluster by its first argument,
 * the SHA, not by its key.)
 */
export async function runScript<T = unknown>(
	redis: RedisClient,
	script: Script,
	keys: string[],
	args: Array<string | number>,
): Promise<T> {
	let scripts = definedOn.get(redis);
	if (!scripts) definedOn.set(redis, (scripts = new Map()));
	let ready = scripts.get(script.name);
	if (!ready) {
		redis.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
		// An auto-pipeline queued earlier in this tick was built without the new command and would
		// lose its replies; the first calls wait until it has been sent.
		ready = new Promise((resolve) => setImmediate(resolve));
		scripts.set(script.name, ready);
	}
	await ready;
	const command = (redis as unknown as Record<string, (...a: unknown[]) => Promise<T>>)[script.name];
	return command.call(redis, ...keys, ...args);
}
