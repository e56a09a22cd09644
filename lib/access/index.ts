import type { RedisClient } from '../redis/connection';
import { runScript, scripts } from '../redis/scripts';

/**
 * The Redis commands the pack sends, grouped by what they are for: the one source of the minimal
 * ACL (docs/redis.md is checked against it by a test). Each command comes with the arguments
 * `checkPermissions` asks Redis about; `K` stands for a key under the workspace's prefix.
 * Subcommands are written `command|subcommand`, as in ACL rules.
 */
export const PACK_COMMAND_GROUPS: ReadonlyArray<{
	purpose: string;
	commands: Readonly<Record<string, readonly string[]>>;
}> = [
	{
		purpose:
			'Connection: the credential test (PING) and ioredis checking that the server is ready after connecting (INFO).',
		commands: { ping: [], info: ['server'] },
	},
	{
		purpose:
			'Redis Cluster only: ioredis learns which node serves which keys, checks the cluster is up, and follows a key to the node it is being moved to (ASKING).',
		commands: { 'cluster|slots': [], 'cluster|info': [], asking: [] },
	},
	{
		purpose:
			"Lua scripts: every change to a contact is one atomic script; ioredis sends EVALSHA, and EVAL the first time on each connection. TIME: a script reads the server's clock.",
		commands: {
			evalsha: ['0000000000000000000000000000000000000000', '1', 'K'],
			eval: ['return 1', '1', 'K'],
			time: [],
		},
	},
	{
		purpose:
			'Contacts with their fields, tags and event counters, send records and campaign counters (hashes); idempotency keys, message-ID lookups and the replay guards of batch writes (strings); erasing a contact and exporting its keys.',
		commands: {
			hget: ['K', 'f'],
			hmget: ['K', 'f'],
			hgetall: ['K'],
			hexists: ['K', 'f'],
			hset: ['K', 'f', 'v'],
			hsetnx: ['K', 'f', 'v'],
			hdel: ['K', 'f'],
			hincrby: ['K', 'f', '1'],
			hkeys: ['K'],
			get: ['K'],
			set: ['K', 'v'],
			del: ['K'],
			exists: ['K'],
			type: ['K'],
			pexpire: ['K', '1'],
		},
	},
	{
		purpose: 'Per-shard indexes and registries (sets).',
		commands: {
			sadd: ['K', 'm'],
			srem: ['K', 'm'],
			smembers: ['K'],
			sismember: ['K', 'm'],
			scard: ['K'],
			sscan: ['K', '0'],
		},
	},
	{
		purpose:
			"Activity and creation indexes, contacts' events (ordered by name and time), scores, schedules and frequency caps (sorted sets).",
		commands: {
			zadd: ['K', '1', 'm'],
			zrem: ['K', 'm'],
			zcard: ['K'],
			zcount: ['K', '0', '1'],
			zrange: ['K', '0', '1'],
			zrangebyscore: ['K', '0', '1'],
			zlexcount: ['K', '-', '+'],
			zrangebylex: ['K', '-', '+'],
			zrevrangebylex: ['K', '+', '-'],
			zrank: ['K', 'm'],
			zscore: ['K', 'm'],
			zremrangebyscore: ['K', '0', '1'],
			zscan: ['K', '0'],
		},
	},
	{
		purpose:
			'Browser visitors: the events an anonymous visitor keeps until it is identified (lists), and the rate counters of the browser route.',
		commands: {
			rpush: ['K', 'v'],
			lrange: ['K', '0', '-1'],
			ltrim: ['K', '0', '-1'],
			llen: ['K'],
			incr: ['K'],
		},
	},
	{
		purpose:
			"The event log (one stream per shard), the triggers' consumer groups, which deliver each event once, and their dead letters; XINFO GROUPS and XTRIM drop the entries every trigger has delivered.",
		commands: {
			xadd: ['K', '*', 'f', 'v'],
			xdel: ['K', '0-1'],
			xtrim: ['K', 'MINID', '0-1'],
			xrange: ['K', '-', '+'],
			xrevrange: ['K', '+', '-'],
			xlen: ['K'],
			xreadgroup: ['GROUP', 'g', 'c', 'STREAMS', 'K', '>'],
			xack: ['K', 'g', '0-1'],
			xclaim: ['K', 'g', 'c', '0', '0-1'],
			xautoclaim: ['K', 'g', 'c', '0', '0-0'],
			xpending: ['K', 'g'],
			'xinfo|consumers': ['K', 'g'],
			'xinfo|groups': ['K'],
			'xgroup|create': ['K', 'g', '$'],
			'xgroup|setid': ['K', 'g', '$'],
			'xgroup|destroy': ['K', 'g'],
			'xgroup|delconsumer': ['K', 'g', 'c'],
		},
	},
];

export const PACK_COMMANDS: readonly string[] = PACK_COMMAND_GROUPS.flatMap((group) => Object.keys(group.commands));

/**
 * The ACL rules of a Redis user that can run the pack and nothing else: its keys are those under
 * the prefix, no Pub/Sub channels, and exactly the pack's commands.
 */
export function packAclRules(keyPrefix: string): string[] {
	return [`~${keyPrefix}*`, 'resetchannels', '-@all', ...PACK_COMMANDS.map((command) => `+${command}`)];
}

/** A ready-to-run ACL SETUSER that (re)creates such a user; `reset` first, so running it again replaces the old rules. */
export function aclSetUserCommand(user: string, password: string, keyPrefix: string): string {
	return ['ACL SETUSER', user, 'reset', 'on', `>${password}`, ...packAclRules(keyPrefix)].join(' ');
}

export type PermissionCheck =
	| { checked: true; refused: string[] }
	/** Redis before 7.0 cannot tell a script what the user may run: nothing was checked. */
	| { checked: false };

/**
 * Asks Redis whether the connected user may run each of the pack's commands on keys under the
 * prefix, without running them: one script (itself an EVALSHA/EVAL on a key under the prefix, so a
 * key pattern that excludes the prefix is refused right away) calling redis.acl_check_cmd.
 */
export async function checkPermissions(client: RedisClient, keyPrefix: string): Promise<PermissionCheck> {
	const key = `${keyPrefix}acl-check`;
	const args: string[] = [];
	for (const command of PACK_COMMANDS) {
		const words = [...command.split('|'), ...commandProbe(command).map((arg) => (arg === 'K' ? key : arg))];
		args.push(String(words.length), ...words);
	}
	const answer = await runScript<Array<string | number> | null>(client, scripts.checkAcl, [key], args);
	if (answer === null) return { checked: false };
	return { checked: true, refused: PACK_COMMANDS.filter((_, index) => answer[index] !== 1) };
}

/**
 * The command behind an ACL refusal that Redis did not name: a batch script's item catches the
 * refusal, and with it the script line refusedCommand reads. The first command the script calls
 * that the user may not run (one more script call, on this error path only).
 */
export async function refusedScriptCommand(
	client: RedisClient,
	keyPrefix: string,
	lua: string,
): Promise<string | undefined> {
	const permissions = await checkPermissions(client, keyPrefix);
	if (!permissions.checked) return undefined;
	const called = new Set([...lua.matchAll(/redis\.p?call\s*(?:\(|,)\s*'(\w+)'/g)].map((m) => m[1].toLowerCase()));
	return permissions.refused.find((command) => called.has(command.split('|')[0]));
}

function commandProbe(command: string): readonly string[] {
	for (const group of PACK_COMMAND_GROUPS) if (command in group.commands) return group.commands[command];
	return [];
}

/**
 * The command an ACL refusal names: "NOPERM ... to run the 'xadd' command". Redis 7.0 does not name
 * it when a script's call is refused ("... can't run this command or subcommand script: <sha>, on
 * @user_script:<line>."): then it is read from that line of the script.
 */
export function refusedCommand(message: string, lua?: string): string | undefined {
	const named = /no permissions to run the '([^']+)' command/i.exec(message);
	if (named) return named[1].toLowerCase();
	const line = /can't run this command.*@user_script:(\d+)/i.exec(message);
	if (!line || !lua) return undefined;
	const source = lua.split('\n')[Number(line[1]) - 1] ?? '';
	const call = /redis\.p?call\s*(?:\(|,)\s*'(\w+)'(?:\s*,\s*'([A-Za-z]+)')?/.exec(source);
	if (!call) return undefined;
	const command = call[1].toLowerCase();
	const withSubcommand = call[2] && `${command}|${call[2].toLowerCase()}`;
	return withSubcommand && PACK_COMMANDS.includes(withSubcommand) ? withSubcommand : command;
}
