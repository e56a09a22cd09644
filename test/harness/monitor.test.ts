/** monitorCommands (redis.ts): MONITOR on the test run's redis-server, which other files keep busy. */
import Redis from 'ioredis';
import { monitorCommands } from './redis';

const server = { host: '127.0.0.1', port: Number(process.env.MA_TEST_REDIS_PORT) };

describe('monitorCommands', () => {
	it("keeps the watched commands only, and ends cleanly while other clients' commands keep coming", async () => {
		// Another client sends commands all along, as the other test files do: MONITOR lines still
		// arrive while and after the watch disconnects.
		const busy = new Redis({ ...server, lazyConnect: true });
		let running = true;
		const traffic = (async () => {
			while (running) await busy.pipeline(Array.from({ length: 50 }, (_, i) => ['set', `busy:${i}`, 'x'])).exec();
		})();
		const client = new Redis({ ...server, lazyConnect: true });
		try {
			for (let round = 0; round < 20; round++) {
				const watched = await monitorCommands(
					server,
					(args) => String(args[1]).startsWith(`watched:${round}:`),
					async () => {
						await client.set(`watched:${round}:a`, 'a "quoted"\nvalue \\ é');
						await client.incr(`watched:${round}:b`);
					},
				);
				expect(watched).toEqual([
					['set', `watched:${round}:a`, 'a "quoted"\nvalue \\ é'],
					['incr', `watched:${round}:b`],
				]);
			}
			// With ioredis's monitor(), the lines that came after its disconnect failed the test as an
			// unhandled 'error' event: time for them to come.
			await new Promise((r) => setTimeout(r, 100));
		} finally {
			running = false;
			await traffic;
			busy.disconnect();
			client.disconnect();
		}
	});
});
