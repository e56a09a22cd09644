import {
	NodeConnectionTypes,
	type ICredentialTestFunctions,
	type ICredentialsDecrypted,
	type IDataObject,
	type IExecuteFunctions,
	type INodeCredentialTestResult,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { acquireMailer, Campaigns, verifySmtp, type CampaignSpec, type Delivery, type MailerLease, type SendRequest, type SmtpConfig } from '../../lib/campaigns';
import type { Result } from '../../lib';
import { CREDENTIAL_NAME, leaseStore, testContactStoreCredential } from '../shared/store';
import { jsonParameter, perItem, runBatch, toNodeError } from '../shared/items';
import { sendCampaignProperties } from './SendCampaignDescription';

const DAY = 86_400_000;

export function smtpConfigFrom(c: IDataObject): SmtpConfig {
	return {
		host: String(c.host ?? ''),
		port: Number(c.port ?? 587),
		secure: Boolean(c.secure),
		starttls: (c.starttls as SmtpConfig['starttls']) ?? 'auto',
		user: (c.user as string) || undefined,
		password: (c.password as string) || undefined,
		poolSize: Number(c.poolSize ?? 5),
		ratePerSecond: Number(c.ratePerSecond ?? 0),
		tlsSkipVerify: Boolean(c.tlsSkipVerify),
	};
}

async function testCampaignSmtp(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
	try {
		await verifySmtp(smtpConfigFrom(credential.data ?? {}));
		return { status: 'OK', message: 'Connection successful' };
	} catch (error) {
		return { status: 'Error', message: (error as Error).message };
	}
}

interface ItemInput {
	spec: CampaignSpec;
	request: SendRequest;
}

function readItem(ctx: IExecuteFunctions, i: number, item: IDataObject, signingSecret: string): ItemInput {
	const p = <T>(name: string, fallback?: T) => ctx.getNodeParameter(name, i, fallback) as T;
	const o = p<IDataObject>('options', {});
	const capMax = Number(o.capMax ?? 0);
	const spec: CampaignSpec = {
		id: p<string>('campaignId'),
		name: p<string>('campaignName', '') || undefined,
		fromEmail: p<string>('fromEmail'),
		fromName: p<string>('fromName', ''),
		replyTo: (o.replyTo as string) || undefined,
		subject: p<string>('subject'),
		preheader: p<string>('preheader', ''),
		html: p<string>('html'),
		text: p<string>('text', ''),
		transactional: Boolean(o.transactional),
		allowResend: Boolean(o.allowResend),
		requireConsent: Boolean(o.requireConsent),
		frequencyCap: capMax > 0 ? { max: capMax, windowMs: Number(o.capDays ?? 7) * DAY } : undefined,
		sendWindow: o.useWindow
			? {
					startHour: Number(o.windowStart ?? 9),
					endHour: Number(o.windowEnd ?? 18),
					weekdays: ((o.windowDays as number[] | undefined) ?? [1, 2, 3, 4, 5]).map(Number),
					fallbackZone: (o.fallbackTimeZone as string) || 'UTC',
				}
			: undefined,
		trackingBaseUrl: p<string>('trackingBaseUrl', '') || undefined,
		trackOpens: Boolean(o.trackOpens),
		trackClicks: Boolean(o.trackClicks),
		unsubscribeMailto: (o.unsubscribeMailto as string) || undefined,
		signingSecret,
		retryDelayMs: Number(o.retryMinutes ?? 15) * 60_000,
	};
	const identifyBy = p<string>('identifyBy', 'id');
	const data = jsonParameter(o.mergeData, 'mergeData');
	const request: SendRequest = identifyBy === 'email' ? { email: String(p<string>('email') ?? '') } : { contactId: String(p<string>('contactId') ?? '') };
	return { spec, request: { ...request, data, attemptKey: attemptKeyOf(ctx, item) } };
}

/**
 * The same on every delivery of one Contact Trigger event to this node: the event id, with the
 * workflow and node, so that another workflow (or node) sending the same campaign for the same
 * event never takes over this one's reservation.
 */
function attemptKeyOf(ctx: IExecuteFunctions, json: IDataObject): string | undefined {
	const event = json.event as IDataObject | undefined;
	if (!event || typeof event.id !== 'string' || !event.id) return undefined;
	return `event:${event.id}|${ctx.getWorkflow().id ?? ''}|${ctx.getNode().name}`;
}

export class SendCampaign implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Send Campaign',
		name: 'sendCampaign',
		icon: { light: 'file:sendCampaign.svg', dark: 'file:sendCampaign.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle: '={{$parameter["operation"] === "report" ? "report: " + $parameter["campaignId"] : $parameter["campaignId"]}}',
		description: 'Send a personalised campaign e-mail once per contact, within caps and send windows, with unsubscribe and tracking',
		defaults: { name: 'Send Campaign' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Sent', 'Deferred', 'Skipped'],
		credentials: [
			{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' },
			{ name: 'campaignSmtpApi', required: true, testedBy: 'campaignSmtpConnectionTest', displayOptions: { show: { operation: ['send'], delivery: ['smtp'] } } },
		],
		properties: sendCampaignProperties,
	};

	methods = {
		credentialTest: { contactStoreConnectionTest: testContactStoreCredential, campaignSmtpConnectionTest: testCampaignSmtp },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const operation = this.getNodeParameter('operation', 0) as string;
		const out: INodeExecutionData[][] = [[], [], []];
		let lease;
		try {
			lease = await leaseStore(this);
		} catch (error) {
			throw toNodeError(this, error as Error, 0);
		}
		let mailer: MailerLease | undefined;
		try {
			const campaigns = new Campaigns(lease.store);
			let results: Array<Result<IDataObject & { status?: string }>>;
			if (operation === 'report') {
				const ids = perItem(this, (i) => this.getNodeParameter('campaignId', i) as string);
				results = (await runBatch(ids, (valid) => campaigns.report(valid))) as Array<Result<IDataObject>>;
			} else {
				const delivery = this.getNodeParameter('delivery', 0) as string;
				const store = await this.getCredentials(CREDENTIAL_NAME);
				const inputs = perItem(this, (i) => readItem(this, i, items[i].json, String(store.signingSecret ?? '')));
				let target: Delivery = { mode: 'render' };
				if (delivery === 'smtp') {
					try {
						mailer = acquireMailer(smtpConfigFrom(await this.getCredentials('campaignSmtpApi')));
					} catch (error) {
						throw toNodeError(this, error as Error, 0);
					}
					target = { mode: 'smtp', mailer: mailer.mailer };
				}
				const context = { source: `workflow:${this.getWorkflow().id ?? ''}` };
				// Items usually share one campaign; each distinct campaign is one batch.
				const groups = new Map<string, number[]>();
				inputs.forEach((input, i) => {
					if (input instanceof Error) return;
					const key = JSON.stringify(input.spec);
					groups.set(key, [...(groups.get(key) ?? []), i]);
				});
				results = inputs.map((input) => (input instanceof Error ? { ok: false, error: input } : { ok: false, error: new Error('not run') }));
				for (const indexes of groups.values()) {
					const { spec } = inputs[indexes[0]] as ItemInput;
					let batch: Array<Result<IDataObject>>;
					try {
						batch = (await campaigns.send(spec, indexes.map((i) => (inputs[i] as ItemInput).request), target, context)) as unknown as Array<Result<IDataObject>>;
					} catch (error) {
						batch = indexes.map(() => ({ ok: false, error: error as Error }));
					}
					indexes.forEach((itemIndex, k) => (results[itemIndex] = batch[k]));
				}
			}
			results.forEach((result, itemIndex) => {
				if (!result.ok) {
					const error = toNodeError(this, result.error, itemIndex);
					if (!this.continueOnFail()) throw error;
					out[0].push({ json: { error: error.message, ...(error.description ? { description: error.description } : {}) }, pairedItem: { item: itemIndex } });
					return;
				}
				const value = result.value;
				const branch = value.status === 'deferred' ? 1 : value.status === 'skipped' ? 2 : 0;
				const json = operation === 'report' ? value : { ...items[itemIndex].json, ...value };
				out[branch].push({ json, pairedItem: { item: itemIndex } });
			});
			return out;
		} finally {
			mailer?.release();
			lease.release();
		}
	}
}
