/**
 * A real SMTP server (smtp-server) on loopback that parses every accepted mail with mailparser.
 * Reusable by any suite: `const smtp = await startSmtp(); ...; await smtp.stop()`.
 * `rejectRecipient` / `failData` make it answer like a real MTA (550 user unknown, 451 try later).
 */
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
	envelope: { from: string; to: string[] };
	raw: string;
	parsed: ParsedMail;
	/** Header lines as sent (name lower-cased -> raw value), for checks mailparser would normalise. */
	headerLines: Record<string, string>;
}

export interface SmtpReply {
	code: number;
	message: string;
}

export interface SmtpSink {
	port: number;
	mails: ReceivedMail[];
	/** Sessions opened since start (connections), to compare pooled and unpooled sending. */
	connections: number;
	/** Answer RCPT TO for an address with this reply (e.g. 550 or 451), or accept with undefined. */
	rejectRecipient?: (address: string) => SmtpReply | undefined;
	/** Answer the end of DATA with this reply instead of 250. */
	failData?: () => SmtpReply | undefined;
	/** Holds a mail's acceptance (the reply to the end of DATA) until the promise given for its recipients settles. */
	holdData?: (to: string[]) => Promise<void> | undefined;
	/** Resolves once `count` mails have been received. */
	waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
	stop(): Promise<void>;
}

function smtpError(reply: SmtpReply): Error {
	return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

/**
 * `tls`: offer STARTTLS with smtp-server's built-in self-signed certificate (clients need
 * tlsSkipVerify), so connection set-up costs what it costs against a real server.
 */
export async function startSmtp(
	options: { parse?: boolean; user?: string; password?: string; tls?: boolean; implicitTls?: boolean } = {},
): Promise<SmtpSink> {
	const parse = options.parse ?? true;
	const sink: SmtpSink = {
		port: 0,
		mails: [],
		connections: 0,
		waitFor: async (count, timeoutMs = 10_000) => {
			const deadline = Date.now() + timeoutMs;
			while (sink.mails.length < count) {
				if (Date.now() > deadline) throw new Error(`SMTP sink: expected ${count} mails, got ${sink.mails.length}`);
				await new Promise((r) => setTimeout(r, 20));
			}
			return sink.mails;
		},
		stop: async () => undefined,
	};
	const server = new SMTPServer({
		secure: Boolean(options.implicitTls),
		disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.user ? [] : ['AUTH'])],
		disableReverseLookup: true,
		authOptional: !options.user,
		allowInsecureAuth: true,
		logger: false,
		size: 10 * 1024 * 1024,
		onConnect(_session: SMTPServerSession, callback: (err?: Error) => void) {
			sink.connections++;
			callback();
		},
		onAuth(auth, _session, callback) {
			if (auth.username === options.user && auth.password === options.password)
				return callback(null, { user: auth.username });
			callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
		},
		onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, callback: (err?: Error | null) => void) {
			const reply = sink.rejectRecipient?.(address.address);
			callback(reply ? smtpError(reply) : null);
		},
		onData(stream, session, callback) {
			const chunks: Buffer[] = [];
			stream.on('data', (chunk: Buffer) => chunks.push(chunk));
			stream.on('end', async () => {
				await sink.holdData?.(session.envelope.rcptTo.map((r) => r.address));
				const reply = sink.failData?.();
				if (reply) return callback(smtpError(reply));
				const raw = Buffer.concat(chunks).toString('utf8');
				const headerLines: Record<string, string> = {};
				const head = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
				for (const line of head.split(/\r?\n/)) {
					const at = line.indexOf(':');
					if (at > 0) headerLines[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
				}
				const envelope = {
					from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
					to: session.envelope.rcptTo.map((r) => r.address),
				};
				const parsed = parse ? await simpleParser(raw) : ({} as ParsedMail);
				sink.mails.push({ envelope, raw, parsed, headerLines });
				callback();
			});
		},
	});
	server.on('error', () => undefined);
	// Replies leave at once (no Nagle delay on loopback round trips).
	server.server.on(options.implicitTls ? 'secureConnection' : 'connection', (socket: import('net').Socket) =>
		socket.setNoDelay(true),
	);
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
	sink.port = (server.server.address() as { port: number }).port;
	sink.stop = () => new Promise((resolve) => server.close(() => resolve()));
	return sink;
}
