import { rmSync } from 'fs';
import type { Server } from 'http';
import type { RedisServer } from '../../harness/redis';
import type { SmtpSink } from '../../harness/smtp';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const n8n = require('../../../scripts/n8n/n8n.js');

export default async function globalTeardown(): Promise<void> {
	const env = (globalThis as Record<string, unknown>).__MA_E2E__ as
		| { redis: RedisServer; smtp: SmtpSink; sink: { server: Server }; userFolder: string; root: string }
		| undefined;
	if (!env) return;
	// Stops whichever n8n runs now for the user folder (tests may have restarted it).
	await n8n.stop({ userFolder: env.userFolder });
	await env.smtp.stop();
	await new Promise<void>((resolve) => env.sink.server.close(() => resolve()));
	await env.redis.stop();
	if (process.env.KEEP_E2E_TMP) process.stdout.write(`kept ${env.root}\n`);
	else rmSync(env.root, { recursive: true, force: true });
}
