/**
 * A TCP proxy on loopback that a test controls, to cut the network between a client and a server
 * (n8n and Redis in the fault suite) without touching either process:
 * - `pause()`: open connections stay open but nothing passes either way (a partition: the client's
 *   writes succeed locally, no answer comes); `resume()` lets the held bytes through.
 * - `dropConnections()`: resets every open connection (both sides get ECONNRESET).
 * - `refuseNew(true)`: new connections are reset as soon as they are accepted.
 * - `loseNextReply(matches)`: the next request whose bytes match goes to the server, and its
 *   connection is reset when the server's answer comes, before any of it passes: the server ran
 *   the request, the client never hears of it and resends it on its new connection.
 */
import { createServer, connect, type Socket } from 'net';

export interface TcpProxy {
	port: number;
	/** Connections open now. */
	readonly open: number;
	/** Connections accepted (and forwarded) since start. */
	readonly accepted: number;
	pause(): void;
	resume(): void;
	dropConnections(): void;
	refuseNew(refuse: boolean): void;
	/** Resolves once a matching request's answer was lost (its connection reset). */
	loseNextReply(matches: (request: Buffer) => boolean): Promise<void>;
	close(): Promise<void>;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
	const pairs = new Set<[Socket, Socket]>();
	let paused = false;
	let refusing = false;
	let accepted = 0;
	/** Armed by loseNextReply: which request to let through, and what to call once its answer is lost. */
	let losing: { matches: (request: Buffer) => boolean; lost: () => void } | undefined;

	const server = createServer((client) => {
		if (refusing) return void client.resetAndDestroy();
		accepted++;
		const upstream = connect(target.port, target.host ?? '127.0.0.1');
		const pair: [Socket, Socket] = [client, upstream];
		pairs.add(pair);
		// The answer this connection must lose (a matching request went up on it).
		let losesAnswer: (() => void) | undefined;
		client.on('data', (chunk: Buffer) => {
			if (losing?.matches(chunk)) {
				losesAnswer = losing.lost;
				losing = undefined;
			}
		});
		upstream.on('data', () => {
			if (!losesAnswer) return;
			const lost = losesAnswer;
			losesAnswer = undefined;
			client.resetAndDestroy();
			upstream.resetAndDestroy();
			lost();
		});
		for (const [from, to] of [pair, [upstream, client] as const]) {
			from.setNoDelay(true);
			// Not pipe(): pipe resumes a paused source on its own when the destination drains.
			from.on('data', (chunk) => {
				if (!(from === upstream && losesAnswer) && !to.destroyed) to.write(chunk);
			});
			from.on('end', () => to.end());
			from.on('error', () => to.destroy());
			from.on('close', () => {
				to.destroy();
				pairs.delete(pair);
			});
			if (paused) from.pause();
		}
	});
	server.on('error', () => undefined);
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));

	const sockets = () => [...pairs].flat();
	return {
		port: (server.address() as { port: number }).port,
		get open() {
			return pairs.size;
		},
		get accepted() {
			return accepted;
		},
		pause() {
			paused = true;
			for (const s of sockets()) s.pause();
		},
		resume() {
			paused = false;
			for (const s of sockets()) s.resume();
		},
		dropConnections() {
			for (const s of sockets()) s.resetAndDestroy();
		},
		refuseNew(refuse) {
			refusing = refuse;
		},
		loseNextReply: (matches) => new Promise<void>((lost) => (losing = { matches, lost })),
		close: () =>
			new Promise<void>((resolve) => {
				for (const s of sockets()) s.destroy();
				server.close(() => resolve());
			}),
	};
}
