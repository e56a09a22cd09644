import { connect, type Socket } from 'net';
import { createTransport, type Transporter } from 'nodemailer';
import { ValidationError } from '../errors';

export interface SmtpConfig {
	host: string;
	port: number;
	/** Implicit TLS from the first byte (port 465); otherwise STARTTLS as `starttls` says. */
	secure: boolean;
	/** 'auto' upgrades when offered, 'require' refuses plain text, 'never' does not upgrade. */
	starttls?: 'auto' | 'require' | 'never';
	user?: string;
	password?: string;
	/** Open connections kept per credential per process. */
	poolSize?: number;
	/** Messages per second over all pooled connections (0: no limit). */
	ratePerSecond?: number;
	tlsSkipVerify?: boolean;
	/** One connection per message instead of a pool (the benchmark's baseline). */
	pooled?: boolean;
	timeoutMs?: number;
}

export interface OutgoingMail {
	from: { name?: string; address: string };
	to: string;
	replyTo?: string;
	subject: string;
	html: string;
	text: string;
	messageId: string;
	headers: Record<string, string>;
}

export interface Mailer {
	send(mail: OutgoingMail): Promise<{ response: string }>;
}

export type SmtpFailureKind = 'connection' | 'temporary' | 'recipient_rejected' | 'rejected';

/** An SMTP failure sorted by what the caller should do about it. */
export class SmtpError extends Error {
	constructor(
		readonly kind: SmtpFailureKind,
		message: string,
		readonly responseCode?: number,
		readonly response?: string,
	) {
		super(message);
		this.name = 'SmtpError';
	}

	/** A 4xx reply or a dropped connection: the same mail may be tried again later. */
	get retryable(): boolean {
		return this.kind === 'temporary' || this.kind === 'connection';
	}
}

/** Plain words for socket failures (n8n would otherwise replace a message naming ECONNREFUSED with its own). */
function plainSocketError(message: string): string {
	if (/ECONNREFUSED/.test(message)) return 'connection refused';
	if (/ENOTFOUND|EAI_AGAIN/.test(message)) return 'host name not found';
	if (/ETIMEDOUT|timeout/i.test(message)) return 'timed out';
	if (/ECONNRESET|EPIPE/.test(message)) return 'the connection was closed by the server';
	if (/certificate|self.signed|SSL|TLS/i.test(message)) return `TLS failed: ${message}`;
	return message.replace(/\bE[A-Z]{4,}\b:?\s*/g, '').trim() || 'unknown socket error';
}

const CONNECTION_CODES = new Set([
	'ECONNECTION',
	'ESOCKET',
	'ETIMEDOUT',
	'EDNS',
	'ETLS',
	'ECONNREFUSED',
	'EAUTH',
	'EPROTOCOL',
	'EGREET',
]);

export function classifySmtpError(error: unknown, config?: Pick<SmtpConfig, 'host' | 'port'>): SmtpError {
	if (error instanceof SmtpError) return error;
	const e = error as { code?: string; responseCode?: number; response?: string; message?: string; command?: string };
	const where = config ? ` (${config.host}:${config.port})` : '';
	const code = e.responseCode;
	if (code !== undefined && code >= 400 && code < 500) {
		return new SmtpError(
			'temporary',
			`The SMTP server deferred the mail${where}: ${e.response ?? e.message}`,
			code,
			e.response,
		);
	}
	if (code !== undefined && code >= 500 && (e.code === 'EENVELOPE' || /^RCPT/i.test(e.command ?? ''))) {
		return new SmtpError(
			'recipient_rejected',
			`The SMTP server rejected the recipient${where}: ${e.response ?? e.message}`,
			code,
			e.response,
		);
	}
	if (e.code === 'ETLS' || /^STARTTLS/i.test(e.command ?? '')) {
		return new SmtpError(
			'connection',
			`TLS could not be started${where}: ${e.response ?? e.message}`,
			code,
			e.response,
		);
	}
	if (e.code === 'EAUTH')
		return new SmtpError('connection', `SMTP login failed${where}: ${e.response ?? e.message}`, code, e.response);
	if (code !== undefined && code >= 500) {
		return new SmtpError(
			'rejected',
			`The SMTP server refused the mail${where}: ${e.response ?? e.message}`,
			code,
			e.response,
		);
	}
	if (e.code && CONNECTION_CODES.has(e.code)) {
		return new SmtpError(
			'connection',
			`Cannot reach the SMTP server${where}: ${plainSocketError(e.message ?? '')}`,
			code,
		);
	}
	return new SmtpError('connection', `Sending failed${where}: ${plainSocketError(e.message ?? String(error))}`, code);
}

export function checkSmtpConfig(config: SmtpConfig): SmtpConfig {
	if (!config.host || /[\s/]/.test(config.host))
		throw new ValidationError('host', `"${config.host}" is not an SMTP host name`);
	if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535)
		throw new ValidationError('port', `SMTP port must be 1-65535, got ${config.port}`);
	const poolSize = config.poolSize ?? 5;
	if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 100)
		throw new ValidationError('poolSize', `Pool size must be 1-100, got ${poolSize}`);
	const rate = config.ratePerSecond ?? 0;
	if (!Number.isFinite(rate) || rate < 0)
		throw new ValidationError('ratePerSecond', `Rate limit must be 0 or more, got ${rate}`);
	return { ...config, poolSize, ratePerSecond: rate };
}

/**
 * Plain (and STARTTLS) connections with Nagle off: an SMTP exchange is a chain of small writes, and
 * Nagle plus the server's delayed ACK costs about 40 ms per message otherwise.
 */
function noDelaySocket(host: string, port: number, timeoutMs: number) {
	return (_options: unknown, callback: (err: Error | null, socketOptions?: { connection: Socket }) => void) => {
		const socket = connect({ host, port, noDelay: true });
		const fail = (error: Error) => {
			socket.destroy();
			callback(error);
		};
		socket.setTimeout(timeoutMs, () => fail(Object.assign(new Error('Connection timeout'), { code: 'ETIMEDOUT' })));
		socket.once('error', fail);
		socket.once('connect', () => {
			socket.setTimeout(0);
			socket.off('error', fail);
			socket.setKeepAlive(true);
			callback(null, { connection: socket });
		});
	};
}

function transportOptions(config: SmtpConfig) {
	const timeout = config.timeoutMs ?? 15_000;
	return {
		...(config.secure ? {} : { getSocket: noDelaySocket(config.host, config.port, timeout) }),
		host: config.host,
		port: config.port,
		secure: config.secure,
		requireTLS: !config.secure && config.starttls === 'require',
		ignoreTLS: !config.secure && config.starttls === 'never',
		auth: config.user ? { user: config.user, pass: config.password ?? '' } : undefined,
		tls: { rejectUnauthorized: !config.tlsSkipVerify },
		connectionTimeout: timeout,
		greetingTimeout: timeout,
		socketTimeout: timeout * 2,
		...(config.pooled === false
			? {}
			: {
					pool: true as const,
					maxConnections: config.poolSize ?? 5,
					maxMessages: 1000,
					...(config.ratePerSecond ? { rateDelta: 1000, rateLimit: config.ratePerSecond } : {}),
				}),
	};
}

function toNodemailer(mail: OutgoingMail) {
	return {
		from: mail.from,
		to: mail.to,
		replyTo: mail.replyTo,
		subject: mail.subject,
		html: mail.html,
		text: mail.text,
		messageId: mail.messageId,
		headers: mail.headers,
	};
}

class NodemailerMailer implements Mailer {
	constructor(
		readonly transport: Transporter,
		private readonly config: SmtpConfig,
	) {}

	async send(mail: OutgoingMail): Promise<{ response: string }> {
		try {
			const info = await this.transport.sendMail(toNodemailer(mail));
			if (info.rejected && info.rejected.length > 0) {
				throw Object.assign(new Error('Recipient rejected'), {
					code: 'EENVELOPE',
					responseCode: 550,
					response: String(info.response),
				});
			}
			return { response: String(info.response) };
		} catch (error) {
			throw classifySmtpError(error, this.config);
		}
	}
}

interface PoolEntry {
	mailer: NodemailerMailer;
	users: number;
	idleTimer?: NodeJS.Timeout;
}

const pools = new Map<string, PoolEntry>();
const IDLE_CLOSE_MS = 30_000;

export interface MailerLease {
	mailer: Mailer;
	release(): void;
}

/** One pooled SMTP transport per credential per process, shared by executions, closed when idle. */
export function acquireMailer(raw: SmtpConfig): MailerLease {
	const config = checkSmtpConfig(raw);
	const key = JSON.stringify(config);
	let entry = pools.get(key);
	if (!entry) {
		entry = { mailer: new NodemailerMailer(createTransport(transportOptions(config)), config), users: 0 };
		pools.set(key, entry);
	}
	const current = entry;
	clearTimeout(current.idleTimer);
	current.users++;
	let released = false;
	return {
		mailer: current.mailer,
		release() {
			if (released) return;
			released = true;
			if (--current.users > 0) return;
			current.idleTimer = setTimeout(() => {
				if (current.users > 0 || pools.get(key) !== current) return;
				pools.delete(key);
				current.mailer.transport.close();
			}, IDLE_CLOSE_MS);
			current.idleTimer.unref();
		},
	};
}

export function closeAllMailers(): void {
	for (const entry of pools.values()) {
		clearTimeout(entry.idleTimer);
		entry.mailer.transport.close();
	}
	pools.clear();
}

/** Connects, greets, logs in when configured, and says what went wrong in plain words. */
export async function verifySmtp(raw: SmtpConfig): Promise<void> {
	const config = checkSmtpConfig({ ...raw, pooled: false, timeoutMs: raw.timeoutMs ?? 10_000 });
	const transport = createTransport(transportOptions(config));
	try {
		await transport.verify();
	} catch (error) {
		throw classifySmtpError(error, config);
	} finally {
		transport.close();
	}
}
