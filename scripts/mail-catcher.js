'use strict';
// A local SMTP server that accepts every mail and saves it as <dir>/<time>-<n>.eml, so you can
// open what the example workflows send. Used by `npm start`; no auth, no TLS, loopback only.
const fs = require('node:fs');
const path = require('node:path');
const { SMTPServer } = require('smtp-server');

/** Starts the catcher on host:port (port 0 = any free one); resolves to { port, stop() }. */
async function startMailCatcher({ dir, port = 0, host = '127.0.0.1', onMail } = {}) {
	fs.mkdirSync(dir, { recursive: true });
	let n = 0;
	const server = new SMTPServer({
		secure: false,
		disabledCommands: ['STARTTLS', 'AUTH'],
		authOptional: true,
		disableReverseLookup: true,
		logger: false,
		size: 25 * 1024 * 1024,
		onData(stream, session, callback) {
			const chunks = [];
			stream.on('data', (c) => chunks.push(c));
			stream.on('end', () => {
				const stamp = new Date().toISOString().replace(/[:.]/g, '-');
				const file = path.join(dir, `${stamp}-${++n}.eml`);
				const envelope = `X-Envelope-From: ${session.envelope.mailFrom ? session.envelope.mailFrom.address : ''}\r\nX-Envelope-To: ${session.envelope.rcptTo.map((r) => r.address).join(', ')}\r\n`;
				fs.writeFileSync(file, Buffer.concat([Buffer.from(envelope), ...chunks]));
				if (onMail) onMail({ file, to: session.envelope.rcptTo.map((r) => r.address) });
				callback();
			});
		},
	});
	server.on('error', (e) => console.error(`mail catcher: ${e.message}`));
	await new Promise((resolve, reject) => {
		server.server.once('error', reject);
		server.listen(port, host, resolve);
	});
	return {
		port: server.server.address().port,
		stop: () => new Promise((resolve) => server.close(resolve)),
	};
}

module.exports = { startMailCatcher };
