'use strict';
// Free TCP ports on 127.0.0.1 for the servers tests, benchmarks and `npm start` run.
const net = require('node:net');

/** Whether nothing listens on `port` of 127.0.0.1 now. */
function isPortFree(port) {
	return new Promise((resolve) => {
		const server = net.createServer();
		server.once('error', () => resolve(false));
		server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
	});
}

/** A port the system hands out as free now. */
function anyPort() {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

/**
 * A port that is free now. `withBus`: a Redis Cluster node's, whose bus port (+10000) must be free
 * too, so it is drawn from 20000-39999 (the bus port stays below 65536).
 */
async function freePort(withBus = false) {
	if (!withBus) return anyPort();
	for (let attempt = 0; attempt < 100; attempt++) {
		const port = 20000 + Math.floor(Math.random() * 20000);
		if ((await isPortFree(port)) && (await isPortFree(port + 10000))) return port;
	}
	throw new Error('no free port with a free bus port (+10000) in 100 tries between 20000 and 39999');
}

/** `preferred` when it is free, else any free port. */
async function preferredOrFreePort(preferred) {
	return (await isPortFree(preferred)) ? preferred : freePort();
}

module.exports = { freePort, isPortFree, preferredOrFreePort };
