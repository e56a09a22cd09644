/**
 * A small MIME walker for the machine-readable parts of reports (message/delivery-status,
 * message/feedback-report, text/rfc822-headers, message/rfc822). mailparser folds those into the
 * text body or drops their structure, so classification reads them here, byte-exact.
 */

export type HeaderMap = Map<string, string[]>;

export interface MimePart {
	headers: HeaderMap;
	/** Lower-case type/subtype; text/plain when absent. */
	contentType: string;
	params: Record<string, string>;
	/** Decoded body (transfer encoding undone); for multiparts the preamble is dropped. */
	body: Buffer;
	children: MimePart[];
}

export const MAX_DEPTH = 8;
export const MAX_PARTS = 200;

/** Parses a header block ("Name: value" lines, folded lines joined); names are lower-cased. */
export function parseHeaderBlock(text: string): HeaderMap {
	const headers: HeaderMap = new Map();
	const lines = text.split(/\r?\n/);
	let current: string | undefined;
	const flush = () => {
		if (current === undefined) return;
		const colon = current.indexOf(':');
		if (colon > 0) {
			const name = current.slice(0, colon).trim().toLowerCase();
			const value = current.slice(colon + 1).trim();
			headers.set(name, [...(headers.get(name) ?? []), value]);
		}
		current = undefined;
	};
	for (const line of lines) {
		if (/^[ \t]/.test(line) && current !== undefined) current += ' ' + line.trim();
		else {
			flush();
			if (line.trim() !== '') current = line;
		}
	}
	flush();
	return headers;
}

export function header(headers: HeaderMap, name: string): string | undefined {
	return headers.get(name.toLowerCase())?.[0];
}

/** Splits "type/subtype; a=b; c="d"" into the lower-cased type and its parameters. */
export function parseContentType(value: string | undefined): { type: string; params: Record<string, string> } {
	if (!value) return { type: 'text/plain', params: {} };
	const [type, ...rest] = splitParams(value);
	const params: Record<string, string> = {};
	for (const param of rest) {
		const eq = param.indexOf('=');
		if (eq <= 0) continue;
		let v = param.slice(eq + 1).trim();
		if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
		params[param.slice(0, eq).trim().toLowerCase()] = v;
	}
	return { type: type.trim().toLowerCase() || 'text/plain', params };
}

function splitParams(value: string): string[] {
	const out: string[] = [];
	let current = '';
	let quoted = false;
	for (let i = 0; i < value.length; i++) {
		const ch = value[i];
		if (ch === '"' && value[i - 1] !== '\\') quoted = !quoted;
		if (ch === ';' && !quoted) {
			out.push(current);
			current = '';
		} else current += ch;
	}
	out.push(current);
	return out;
}

function decodeBody(body: string, encoding: string | undefined): Buffer {
	switch ((encoding ?? '').trim().toLowerCase()) {
		case 'base64':
			return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
		case 'quoted-printable':
			return Buffer.from(
				body
					.replace(/=\r?\n/g, '')
					.replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
				'latin1',
			);
		default:
			return Buffer.from(body, 'latin1');
	}
}

/** Parses a whole message (or an embedded one) into its part tree. */
export function parseMime(raw: Buffer | string): MimePart {
	const counter = { parts: 0 };
	return parsePart(
		typeof raw === 'string' ? Buffer.from(raw, 'utf8').toString('latin1') : raw.toString('latin1'),
		0,
		counter,
	);
}

function parsePart(text: string, depth: number, counter: { parts: number }): MimePart {
	counter.parts++;
	const split = /\r?\n\r?\n/.exec(text);
	const head = split ? text.slice(0, split.index) : text;
	const rawBody = split ? text.slice(split.index + split[0].length) : '';
	const headers = parseHeaderBlock(head);
	const { type, params } = parseContentType(header(headers, 'content-type'));
	const part: MimePart = { headers, contentType: type, params, body: Buffer.alloc(0), children: [] };
	if (depth >= MAX_DEPTH || counter.parts > MAX_PARTS) return part;

	if (type.startsWith('multipart/') && params.boundary) {
		// A boundary the body never uses (a rewritten header): the body's own first delimiter line.
		const boundary = rawBody.includes('--' + params.boundary)
			? params.boundary
			: (/^--([^\s-][^\r\n]{0,68}?)[ \t]*\r?$/m.exec(rawBody)?.[1] ?? params.boundary);
		const delimiter = '--' + boundary;
		// Lines before the first delimiter are the preamble, after the closing one the epilogue.
		let current: string[] | undefined;
		const sections: string[][] = [];
		for (const line of rawBody.split(/\r?\n/)) {
			const trimmed = line.replace(/[ \t]+$/, '');
			if (trimmed === delimiter || trimmed === delimiter + '--') {
				if (current) sections.push(current);
				current = trimmed === delimiter ? [] : undefined;
				if (trimmed !== delimiter) break;
			} else current?.push(line);
		}
		if (current) sections.push(current);
		// No delimiter at all: the body is kept as it is, for readers that look for text in it.
		if (sections.length === 0) part.body = Buffer.from(rawBody, 'latin1');
		for (const section of sections) {
			if (counter.parts >= MAX_PARTS) break;
			if (section.join('').trim() !== '') part.children.push(parsePart(section.join('\r\n'), depth + 1, counter));
		}
		return part;
	}
	part.body = decodeBody(rawBody, header(headers, 'content-transfer-encoding'));
	if (type === 'message/rfc822' || type === 'message/global') {
		part.children.push(parsePart(part.body.toString('latin1'), depth + 1, counter));
	}
	return part;
}

/** Every part, depth first (the root included). */
export function allParts(root: MimePart): MimePart[] {
	const out: MimePart[] = [];
	const visit = (part: MimePart) => {
		out.push(part);
		part.children.forEach(visit);
	};
	visit(root);
	return out;
}

/** The blocks of a delivery-status or feedback-report body, each a header map. */
export function parseFieldBlocks(body: Buffer): HeaderMap[] {
	return body
		.toString('utf8')
		.split(/\r?\n[ \t]*\r?\n/)
		.map((block) => parseHeaderBlock(block))
		.filter((block) => block.size > 0);
}
