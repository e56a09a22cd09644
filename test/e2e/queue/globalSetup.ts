/**
 * Queue mode, the production topology (tools/n8n/queue.js): Postgres, a Redis for Bull, n8n main
 * (triggers; production webhooks switched off there), 2 workers and a webhook processor, the pack
 * installed for each; the contact store on a 3-master Redis Cluster. Only the workflows these
 * tests use are published: the recipes whose files jest.e2e-queue.config.js lists, and the
 * fixtures in ./fixtures.
 */
import { join } from 'path';
import { startE2E } from '../support/globalSetup';

/** Workers' `--concurrency`: 2 workers x 4 = the 8 executions at once the tests ask for. */
export const CONCURRENCY = 4;

const PUBLISHED = new Set([
	'04-welcome',
	'05-abandoned-cart',
	'19-nps-split',
	'21-hot-lead',
	'23-bookshop-author-recommendation',
	'loop-a-newsletter-whitepaper',
	'loop-b-whitepaper-newsletter',
	'fixture-queue-stream',
	'fixture-queue-send',
]);

export default async function globalSetup(): Promise<void> {
	await startE2E({
		fixtureDirs: [join(__dirname, 'fixtures')],
		only: (slug) => PUBLISHED.has(slug),
		concurrency: CONCURRENCY,
		env: {
			// A killed worker's job is found stalled within seconds instead of a minute (lease 60 s,
			// stall check every 30 s by default), so the worker-kill test stays short.
			QUEUE_WORKER_LOCK_DURATION: '10000',
			QUEUE_WORKER_LOCK_RENEW_TIME: '2000',
			QUEUE_WORKER_STALLED_INTERVAL: '5000',
		},
	});
}
