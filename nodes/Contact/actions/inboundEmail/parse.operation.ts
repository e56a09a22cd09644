import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { ValidationError, type ContactStore, type Result } from '../../../../lib';
import { Campaigns } from '../../../../lib/campaigns';
import {
	DEFAULT_SOFT_BOUNCE_LIMIT,
	Inbound,
	parseInbound,
	rebuildMessage,
	type RecordInboundOptions,
	type SendLookup,
} from '../../../../lib/inbound';
import { chainOf, collect, perItem, runBatch } from '../../../shared/items';
import { LABELS, options, relabel, showFor } from '../../../shared/contact';

export const description: INodeProperties[] = [
	{
		displayName: 'Input',
		name: 'inputSource',
		type: 'options',
		displayOptions: showFor(['inboundEmail'], ['parse']),
		options: [
			{ name: 'Binary File', value: 'binary', description: 'A raw message (.eml) in a binary property' },
			{
				name: 'Email Trigger (IMAP) Item',
				value: 'imapItem',
				description:
					'An item of the Email Trigger (IMAP) with Format "Resolved": the message is rebuilt from its headers, text and attachments',
			},
			{ name: 'Text', value: 'text', description: 'The raw message as text (plain or base64)' },
		],
		default: 'binary',
	},
	{
		displayName: 'Input Binary Field',
		name: 'binaryPropertyName',
		type: 'string',
		required: true,
		displayOptions: { show: { resource: ['inboundEmail'], operation: ['parse'], inputSource: ['binary'] } },
		default: 'data',
		description: 'Name of the binary property that holds the raw message',
	},
	{
		displayName: 'Raw Message',
		name: 'rawMessage',
		type: 'string',
		typeOptions: { rows: 4 },
		required: true,
		displayOptions: { show: { resource: ['inboundEmail'], operation: ['parse'], inputSource: ['text'] } },
		default: '',
		placeholder: '={{ $json.raw }}',
		description: 'The full message with its headers (RFC 5322), as text or base64',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: showFor(['inboundEmail'], ['parse']),
		default: {},
		options: [
			{
				displayName: 'Apply Suppression',
				name: 'suppress',
				type: 'boolean',
				default: true,
				description:
					'Whether to mark the contact bounced (hard bounce), complained (spam complaint) or unsubscribed (unsubscribe request). Soft bounces suppress only as Suppress After Soft Bounces says.',
			},
			{
				displayName: 'Record Event',
				name: 'record',
				type: 'boolean',
				default: true,
				description:
					'Whether to record the matching event ($email_bounced, $email_complained, $email_replied, $email_unsubscribed) on the contact',
			},
			{
				displayName: 'Soft Bounce Window (Days)',
				name: 'softBounceDays',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 30,
				description: 'The window in which soft bounces are counted for Suppress After Soft Bounces',
			},
			{
				displayName: 'Suppress After Soft Bounces',
				name: 'softBounceLimit',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 3,
				description:
					'Mark a contact bounced after this many soft bounces (mailbox full, blocked, expired ...) within the Soft Bounce Window; 0 = never. A hard bounce (unknown user or domain) suppresses at once.',
			},
			{
				displayName: 'Unsubscribe Mailboxes',
				name: 'unsubscribeMailboxes',
				type: 'string',
				default: '',
				placeholder: 'e.g. unsubscribe@news.example.com',
				description:
					'Comma-separated addresses (the mailto: of your List-Unsubscribe header); any mail sent to them is an unsubscribe request',
			},
		],
	},
];

/** Matches inbound mail to our sends by Message-ID (kept by the campaign module for 90 days). */
function sendLookup(store: ContactStore): SendLookup {
	const campaigns = new Campaigns(store);
	return async (messageIds) => {
		const found = await campaigns.lookupMessages(messageIds.slice(0, 10));
		for (const result of found) if (result.ok && result.value) return result.value;
		return null;
	};
}

/** The raw message of an Email Trigger (IMAP) item in "Resolved" format: headers, text, attachments. */
async function imapItemMessage(ctx: IExecuteFunctions, itemIndex: number): Promise<Buffer> {
	const item = ctx.getInputData()[itemIndex];
	const json = item.json as IDataObject;
	const attachments = await Promise.all(
		Object.entries(item.binary ?? {}).map(async ([property, binary]) => ({
			contentType: binary.mimeType,
			filename: binary.fileName,
			content: await ctx.helpers.getBinaryDataBuffer(itemIndex, property),
		})),
	);
	return rebuildMessage({
		headers: (json.headers ?? {}) as Record<string, string>,
		text: typeof json.text === 'string' ? json.text : undefined,
		html: typeof json.html === 'string' ? json.html : undefined,
		attachments,
	});
}

/** The node's soft-bounce options as the library's limit: 3 within 30 days unless set; 0 turns it off. */
function softBounceLimit(opts: IDataObject): RecordInboundOptions['softBounceLimit'] {
	const count = Math.floor(Number(opts.softBounceLimit ?? DEFAULT_SOFT_BOUNCE_LIMIT.count));
	if (!(count > 0)) return false;
	const days = Number(opts.softBounceDays ?? DEFAULT_SOFT_BOUNCE_LIMIT.windowMs / 86_400_000);
	return { count, windowMs: Math.max(1, days) * 86_400_000 };
}

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const inputs = perItem(this, (i) => {
		const opts = options(this, i);
		const mailboxes = opts.unsubscribeMailboxes;
		return {
			itemIndex: i,
			unsubscribeMailboxes: (Array.isArray(mailboxes) ? mailboxes.map(String) : String(mailboxes ?? '').split(','))
				.map((m) => m.trim())
				.filter(Boolean),
			record: opts.record !== false,
			suppress: opts.suppress !== false,
			softBounceLimit: softBounceLimit(opts),
			chain: chainOf(this, i),
		};
	});
	// Reading binary data and parsing are local work: all items at once, then one batch for Redis.
	const parsed = await Promise.all(
		inputs.map(async (input): Promise<Result<Awaited<ReturnType<typeof parseInbound>>>> => {
			if (input instanceof Error) return { ok: false, error: input };
			try {
				const source = this.getNodeParameter('inputSource', input.itemIndex) as string;
				let raw: Buffer | string;
				if (source === 'binary') {
					const property = this.getNodeParameter('binaryPropertyName', input.itemIndex) as string;
					if (!this.getInputData()[input.itemIndex]?.binary?.[property]) {
						throw new ValidationError(
							'binaryPropertyName',
							`The item has no binary property "${property}"`,
							'Set Input Binary Field to the property that holds the .eml file, or choose Text input.',
						);
					}
					raw = await this.helpers.getBinaryDataBuffer(input.itemIndex, property);
				} else if (source === 'imapItem') {
					raw = await imapItemMessage(this, input.itemIndex);
				} else raw = this.getNodeParameter('rawMessage', input.itemIndex) as string;
				return { ok: true, value: await parseInbound(raw, { unsubscribeMailboxes: input.unsubscribeMailboxes }) };
			} catch (error) {
				return { ok: false, error: error as Error };
			}
		}),
	);
	// Options and chain are per item: one record call each, issued together so they share round trips.
	const inbound = new Inbound(store, { lookupSend: sendLookup(store) });
	const outcomes = await runBatch(
		parsed.map((p, i) =>
			p.ok ? { message: p.value, input: inputs[i] as Exclude<(typeof inputs)[number], Error> } : p.error,
		),
		async (valid) =>
			Promise.all(
				valid.map(
					async ({ message, input }) =>
						(
							await inbound.record([message], {
								record: input.record,
								suppress: input.suppress,
								softBounceLimit: input.softBounceLimit,
								chain: input.chain,
							})
						)[0],
				),
			),
	);
	const results = outcomes.map((r, i): Result<IDataObject> => {
		if (!r.ok) return r;
		const message = (parsed[i] as { value: Awaited<ReturnType<typeof parseInbound>> }).value;
		const { originalMessageIds, ...rest } = message;
		return {
			ok: true,
			value: {
				...rest,
				originalMessageId: originalMessageIds[0] ?? null,
				originalMessageIds,
				...r.value,
			} as unknown as IDataObject,
		};
	});
	return collect(
		this,
		relabel(
			results,
			(field) =>
				({ rawMessage: 'Raw Message', binaryPropertyName: 'Input Binary Field', headers: 'Input' })[field] ??
				LABELS[field] ??
				field,
		),
		(value) => value,
	);
}
