/**
 * The fault suite's sender (test/faults/sender.ts) takes an event as delivered only when the event
 * endpoint itself answered it: n8n 2.41 answers every request 200 "n8n is starting up. Please wait"
 * while it starts, before any webhook is routed.
 */
import { createServer, type Server } from 'http';
import type { AddressInfo } from 'net';
import { isEndpointAnswer, streamEvents } from '../faults/sender';

const N8N_STARTING = 'n8n is starting up. Please wait';

let server: Server;
let url: string;
/** Requests per event: the first is answered as a starting n8n does, the next as the endpoint. */
const seen = new Map<string, number>();

beforeAll(async () => {
	server = createServer((req, res) => {
		let body = '';
		req.on('data', (chunk) => (body += chunk));
		req.on('end', () => {
			const { contactId } = JSON.parse(body) as { contactId: string };
			const n = (seen.get(contactId) ?? 0) + 1;
			seen.set(contactId, n);
			if (n === 1) res.end(N8N_STARTING);
			else {
				res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
				res.end(JSON.stringify({ received: 1, recorded: 1, duplicates: 0, errors: [] }));
			}
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook/x/y/events`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it("retries an event n8n answered 200 while starting, and takes it as delivered on the endpoint's answer", async () => {
	const events = [{ contactId: 'c1', email: 'c1@example.com' }];
	const { done } = streamEvents(url, events, { concurrency: 1 });
	const stats = await done;
	expect(stats.accepted).toEqual(events);
	expect(seen.get('c1')).toBe(2);
	expect(stats.failures).toEqual({ 200: 1 });
	expect(stats.firstBodies[200]).toBe(N8N_STARTING);
	expect(stats.retries).toBe(1);
	expect(stats.notEndpoint).toEqual(['c1']);
	expect(stats.attempts.c1.filter((line) => !/^\d+ at /.test(line))).toEqual([
		N8N_STARTING,
		'{"received":1,"recorded":1,"duplicates":0,"errors":[]}',
	]);
});

it("tells the endpoint's answer from n8n's own", () => {
	expect(isEndpointAnswer('{"received":1,"recorded":0,"duplicates":1,"errors":[]}')).toBe(true);
	expect(isEndpointAnswer(N8N_STARTING)).toBe(false);
	expect(isEndpointAnswer('{"message":"Webhook call received"}')).toBe(false);
	expect(isEndpointAnswer('null')).toBe(false);
	expect(isEndpointAnswer('')).toBe(false);
});
