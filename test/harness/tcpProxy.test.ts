/** The fault suite's TCP proxy (tcpProxy.ts), in front of the test run's real redis-server. */
import Redis from 'ioredis';
import { startTcpProxy, type TcpProxy } from './tcpProxy';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('TCP proxy', () => {
	let proxy: TcpProxy;
	const clients: Redis[] = [];
	const client = () => {
		const c = new Redis({
			host: '127.0.0.1',
			port: proxy.port,
			maxRetriesPerRequest: 0,
			retryStrategy: () => null,
			lazyConnect: true,
		});
		c.on('error', () => undefined);
		clients.push(c);
		return c;
	};

	beforeEach(async () => {
		proxy = await startTcpProxy({ port: Number(process.env.MA_TEST_REDIS_PORT) });
	});
	afterEach(async () => {
		for (const c of clients.splice(0)) c.disconnect();
		await proxy.close();
	});

	it('forwards both ways', async () => {
		const c = client();
		await c.connect();
		expect(await c.echo('through the proxy')).toBe('through the proxy');
		expect(proxy.open).toBe(1);
	});

	it('pause holds the bytes (no answer), resume lets them through', async () => {
		const c = client();
		await c.connect();
		proxy.pause();
		let answer: string | undefined;
		const reply = c.echo('held').then((a) => (answer = a));
		await sleep(500);
		expect(answer).toBeUndefined();
		proxy.resume();
		await reply;
		expect(answer).toBe('held');
	});

	it('dropConnections resets open connections', async () => {
		const c = client();
		await c.connect();
		const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
		proxy.dropConnections();
		await closed;
		expect(proxy.open).toBe(0);
	});

	it('refuseNew resets new connections until turned off', async () => {
		proxy.refuseNew(true);
		await expect(client().connect()).rejects.toThrow();
		expect(proxy.accepted).toBe(0);
		proxy.refuseNew(false);
		const c = client();
		await c.connect();
		expect(await c.ping()).toBe('PONG');
	});
});
