import type { RedisClient } from './connection';
import { scripts } from './scripts.generated';

/**
 * A Lua script of the pack, as scripts/build-lua.js assembles it from `lib/<concept>/lua/<file>.lua`
 * and the helpers it includes (`lib/redis/lua/`).
 */
export interface Script {
	/** Command name defined on every client (createClient), unique across the pack. */
	readonly name: string;
	readonly numberOfKeys: number;
	/** A batch script (ContactStore.runBatch): its calls are not auto-pipelined (see autoPipeliningIgnoredCommands). */
	readonly batch: boolean;
	/**
	 * A write script with a replay guard (lib/redis/lua/replay_guard.lua): its last key is the call's
	 * guard, which runBatch adds (Keys.replayGuard with a new replayToken()) and the caller of one
	 * that is not a batch script passes (ContactStore.replayGuard).
	 */
	readonly guarded: boolean;
	readonly lua: string;
	/** Line map: [first line in `lua`, source file, its line there], in order. */
	readonly sources: ReadonlyArray<readonly [number, string, number]>;
}

export { scripts };

const all = Object.values(scripts);

/**
 * Batch scripts, sent directly rather than auto-pipelined: ioredis runs one auto-pipeline per
 * connection at a time, so a batch's later chunks would wait for all the replies of the earlier
 * ones. Sent directly, they go out as they are built and Redis is never idle while this process
 * builds the next ones.
 */
export const autoPipeliningIgnoredCommands: readonly string[] = all.filter((s) => s.batch).map((s) => s.name);

/** Defines every script as a command of a new client, before any command is queued. */
export function defineScripts(redis: RedisClient): void {
	for (const script of all) redis.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
}

type ScriptCommand = (...args: Array<string | number>) => Promise<unknown>;

/** EVALSHA with EVAL fallback (ioredis handles NOSCRIPT); auto-pipelined with concurrent calls, batch scripts excepted. */
export async function runScript<T = unknown>(
	redis: RedisClient,
	script: Script,
	keys: string[],
	args: Array<string | number>,
): Promise<T> {
	const command = (redis as unknown as Record<string, ScriptCommand | undefined>)[script.name];
	if (!command)
		throw new Error(
			`Redis script ${script.name} is not defined on this client: create clients with createClient (lib/redis/connection)`,
		);
	return command.call(redis, ...keys, ...args) as Promise<T>;
}

/** The file and line a line of the assembled script comes from. */
export function sourceLine(script: Script, line: number): string {
	let at = script.sources[0];
	for (const entry of script.sources) if (entry[0] <= line) at = entry;
	return `${at[1]}:${at[2] + line - at[0]}`;
}

/** Names the Lua file and line in a script error ("user_script:57" -> "lib/scoring/lua/apply_score.lua:40"). */
export function locateScriptError<E>(script: Script, error: E): E {
	if (error instanceof Error && error.message.includes('user_script:')) {
		error.message = error.message.replace(/user_script:(\d+)/g, (_, line: string) => sourceLine(script, Number(line)));
	}
	return error;
}
