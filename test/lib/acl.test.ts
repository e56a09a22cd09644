/**
 * The pack's minimal ACL (lib/access) is the one source: docs/redis.md shows it, the
 * managed-Redis test servers load it, and it lists exactly the commands the code sends.
 */
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import Redis from 'ioredis';
import { exists as isRedisCommand } from '@ioredis/commands';
import { aclSetUserCommand, PACK_COMMAND_GROUPS, PACK_COMMANDS } from '../../lib/access';
import { ACL_USERS, aclFileLine } from '../harness/managedRedis';

const root = join(__dirname, '..', '..');

/** The block of docs/redis.md between the acl markers, as it must read. */
function renderAclSection(): string {
	const rows = PACK_COMMAND_GROUPS.map(
		(group) =>
			`| ${Object.keys(group.commands)
				.map((command) => `\`${command.replace('|', '\\|')}\``)
				.join(' ')} | ${group.purpose} |`,
	);
	return [
		'```text',
		aclSetUserCommand('n8n-marketing', 'CHOOSE-A-LONG-PASSWORD', 'ma:'),
		'```',
		'',
		'| Commands | What for |',
		'| --- | --- |',
		...rows,
	].join('\n');
}

function files(dir: string, ext: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const path = join(dir, name);
		if (statSync(path).isDirectory()) return files(path, ext);
		return name.endsWith(ext) ? [path] : [];
	});
}

/** Commands whose ACL rule names a subcommand (as the pack allows only some of them). */
const BY_SUBCOMMAND = new Set(['xgroup', 'xinfo', 'cluster']);

/** Commands the pack's Lua scripts call: redis.call('X', ...) and pcall(redis.call, 'X', ...). */
function luaCommands(): Set<string> {
	const found = new Set<string>();
	for (const file of files(join(root, 'lib'), '.lua')) {
		for (const m of readFileSync(file, 'utf8').matchAll(/redis\.p?call\s*(?:\(|,)\s*'(\w+)'(?:\s*,\s*'(\w+)')?/g)) {
			const command = m[1].toLowerCase();
			found.add(BY_SUBCOMMAND.has(command) ? `${command}|${m[2].toLowerCase()}` : command);
		}
	}
	found.delete('check_acl');
	return found;
}

/**
 * Commands the TypeScript sends itself: store.call((r) => r.x(...)), the trigger readers'
 * connection.x(...), the credential test's client.x(...), and stream commands however reached
 * (`.xpending(` through a cast). Not QUIT, which every user may send.
 */
function typeScriptCommands(): Set<string> {
	const found = new Set<string>();
	for (const file of [...files(join(root, 'lib'), '.ts'), ...files(join(root, 'nodes'), '.ts')]) {
		for (const m of readFileSync(file, 'utf8').matchAll(/\b(?:r|c|connection|client)\.([a-z]+)\(|\.(x[a-z]+)\(/g)) {
			const name = m[1] ?? m[2];
			if (isRedisCommand(name) && name !== 'quit') found.add(name);
		}
	}
	return found;
}

/** Sent by ioredis, not by the pack's code: ready checks, cluster discovery, and scripts. */
const SENT_BY_IOREDIS = ['info', 'cluster|slots', 'cluster|info', 'asking', 'evalsha', 'eval'];

describe("the pack's minimal Redis ACL", () => {
	it('lists exactly the commands the code sends: every one it finds, and nothing it does not', () => {
		const sent = new Set([...luaCommands(), ...typeScriptCommands(), ...SENT_BY_IOREDIS]);
		expect([...sent].sort()).toEqual([...PACK_COMMANDS].sort());
		// The scan itself finds what it must, in each of its forms.
		expect([...luaCommands()]).toEqual(expect.arrayContaining(['xadd', 'xgroup|create', 'xinfo|consumers', 'time']));
		expect([...typeScriptCommands()]).toEqual(expect.arrayContaining(['xreadgroup', 'xpending', 'zcard', 'ping']));
	});

	it('is what docs/redis.md shows, word for word', () => {
		const doc = readFileSync(join(root, 'docs', 'redis.md'), 'utf8');
		const section = /<!-- acl:begin[^>]*-->\n([\s\S]*?)\n<!-- acl:end -->/.exec(doc);
		expect(section?.[1]).toBe(renderAclSection());
	});

	it("gives, run on a real Redis, the same user as the test servers' ACL file", async () => {
		const documented = /^ACL SETUSER n8n-marketing (.*)$/m.exec(
			readFileSync(join(root, 'docs', 'redis.md'), 'utf8'),
		)?.[1];
		expect(documented).toBeDefined();
		const admin = new Redis({ host: '127.0.0.1', port: Number(process.env.MA_TEST_REDIS_PORT) });
		try {
			// The documented line for the test servers' prefix and password, and the ACL file's line for the pack user.
			const { rules, password } = ACL_USERS.pack;
			const prefix = rules[0].slice(1, -1);
			const docRules = documented!
				.replace('>CHOOSE-A-LONG-PASSWORD', `>${password}`)
				.replace('~ma:*', `~${prefix}*`)
				.split(' ');
			const fileRules = aclFileLine(ACL_USERS.pack).split(' ').slice(2);
			await admin.call('ACL', 'SETUSER', 'acl-test-doc', ...docRules);
			await admin.call('ACL', 'SETUSER', 'acl-test-file', ...fileRules);
			const list = (await admin.call('ACL', 'LIST')) as string[];
			const rulesOf = (user: string) =>
				list.find((line) => line.startsWith(`user ${user} `))!.slice(`user ${user} `.length);
			expect(rulesOf('acl-test-doc')).toBe(rulesOf('acl-test-file'));
			expect(rulesOf('acl-test-doc')).toMatch(/^on .* ~tlsacl:\* resetchannels -@all /);
		} finally {
			await admin.call('ACL', 'DELUSER', 'acl-test-doc', 'acl-test-file').catch(() => undefined);
			admin.disconnect();
		}
	});
});
