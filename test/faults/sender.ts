/**
 * A sender of events as an ESP or CRM is one: POSTs each event to the pack's event endpoint, and on
 * a network error or any non-2xx answer (n8n down, 404 before the webhook is registered again, 503
 * while Redis is away) tries again with exponential backoff, for a bounded time per event. Unlike
 * most ESPs it also tries again on a 2xx that is not the endpoint's own answer (isEndpointAnswer).
 */
import { SHARED_SECRET, sleep } from './env';

/**
 * Whether a 2xx body is the event endpoint's own answer ({"received": n, ...}). n8n 2.41 answers
 * every request 200 "n8n is starting up. Please wait" from opening its port until its database
 * migrations have run, before it routes any webhook: an event answered so never reached the pack,
 * and a sender that takes it as delivered loses it (most likely the two events case 1 once lost,
 * with nothing recorded of them). Counted as a failure of status 200 instead.
 */
export function isEndpointAnswer(body: string): boolean {
	try {
		const answer = JSON.parse(body) as unknown;
		return typeof (answer as { received?: unknown } | null)?.received === 'number';
	} catch {
		return false;
	}
}

export interface SenderStats {
	/** Events the endpoint answered with a 2xx, in the order they were accepted. */
	accepted: Array<{ contactId: string; email: string }>;
	/** Events the sender gave up on (its retry budget ran out). */
	gaveUp: string[];
	/** Attempts after the first, over all events. */
	retries: number;
	/** Answers that were not the endpoint's 2xx, by status (0: network error; 200: n8n's own, isEndpointAnswer). */
	failures: Record<number, number>;
	/** The first body of each status counted in `failures`, to tell why. */
	firstBodies: Record<number, string>;
	/**
	 * Each event's attempts by contact: status (0: network error) and time, and the accepted answer's
	 * body, so that a contact the outcome finds lost or duplicated can be told about.
	 */
	attempts: Record<string, string[]>;
	/** Events answered a 2xx that was not the endpoint's (isEndpointAnswer), by contact, once each. */
	notEndpoint: string[];
}

export interface SendOptions {
	/** Requests in flight at once (default 4). */
	concurrency?: number;
	/** Events started per second, at most (default: as fast as answers come). */
	ratePerSecond?: number;
	/** How long one event is retried before the sender gives up (default 10 minutes; ESPs retry for hours). */
	retryForMs?: number;
}

export function streamEvents<E extends { contactId: string; email: string }>(
	url: string,
	events: E[],
	options: SendOptions = {},
): { stats: SenderStats; done: Promise<SenderStats> } {
	const { concurrency = 4, ratePerSecond, retryForMs = 600_000 } = options;
	const stats: SenderStats = {
		accepted: [],
		gaveUp: [],
		retries: 0,
		failures: {},
		firstBodies: {},
		attempts: {},
		notEndpoint: [],
	};
	let next = 0;
	let lastStart = 0;
	const postOne = async (event: E) => {
		const giveUpAt = Date.now() + retryForMs;
		for (let attempt = 0; ; attempt++) {
			let status = 0;
			let body = '';
			try {
				const res = await fetch(url, {
					method: 'POST',
					headers: { 'content-type': 'application/json', 'x-webhook-secret': SHARED_SECRET },
					body: JSON.stringify(event),
					signal: AbortSignal.timeout(15_000),
				});
				status = res.status;
				body = await res.text();
			} catch {
				// network error or timeout: status 0
			}
			const attempts = (stats.attempts[event.contactId] ??= []);
			attempts.push(`${status} at ${new Date().toISOString().slice(11, 23)}`);
			// A 2xx's body is kept, whoever answered it (isEndpointAnswer).
			if (status >= 200 && status < 300) attempts.push(body.slice(0, 160));
			if (status >= 200 && status < 300) {
				if (isEndpointAnswer(body)) return void stats.accepted.push({ contactId: event.contactId, email: event.email });
				if (!stats.notEndpoint.includes(event.contactId)) stats.notEndpoint.push(event.contactId);
			}
			stats.failures[status] = (stats.failures[status] ?? 0) + 1;
			stats.firstBodies[status] ??= body.slice(0, 300);
			if (Date.now() > giveUpAt) return void stats.gaveUp.push(event.contactId);
			stats.retries++;
			await sleep(Math.min(250 * 2 ** attempt, 5000) * (0.75 + Math.random() / 2));
		}
	};
	const worker = async () => {
		while (next < events.length) {
			const event = events[next++];
			if (ratePerSecond) {
				const wait = lastStart + 1000 / ratePerSecond - Date.now();
				lastStart = Math.max(Date.now(), lastStart + 1000 / ratePerSecond);
				if (wait > 0) await sleep(wait);
			}
			await postOne(event);
		}
	};
	const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => stats);
	return { stats, done };
}

/** Resolves once `count` events were accepted (or the stream ended). */
export async function whenAccepted(stats: SenderStats, count: number, done: Promise<unknown>): Promise<void> {
	let finished = false;
	void done.then(() => (finished = true));
	while (stats.accepted.length < count && !finished) await sleep(25);
}
