import type {
	ICredentialTestFunctions,
	ICredentialsDecrypted,
	IDataObject,
	IExecuteFunctions,
	INodeCredentialTestResult,
	INodeExecutionData,
} from 'n8n-workflow';
import {
	acquireMailer,
	Campaigns,
	verifySmtp,
	type CampaignSpec,
	type Delivery,
	type MailerLease,
	type SendRequest,
	type SmtpConfig,
} from '../../lib/campaigns';
import type { Result } from '../../lib';
import { CREDENTIAL_NAME, leaseStore } from '../shared/store';
import {
	CONTACT_TRIGGER_NAME,
	jsonParameter,
	perItem,
	routeResults,
	runBatch,
	runGrouped,
	toNodeError,
} from '../shared/items';
import { DEFERRED, SENT, SKIPPED } from './description';

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

export async function testCampaignSmtp(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
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

function readItem(
	ctx: IExecuteFunctions,
	i: number,
	item: IDataObject,
	signingSecret: string,
	triggerEventId: TriggerEventLookup,
): ItemInput {
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
		policy: p<'workspace' | 'campaign'>('sendPolicy', 'workspace'),
		allowResend: Boolean(o.allowResend),
		requireConsent: Boolean(o.requireConsent),
		topic: (o.topic as string) || undefined,
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
		// The workflow is the journey: its sends and their outcomes are counted for it (Journey > Report).
		journeyId: ctx.getWorkflow().id ? String(ctx.getWorkflow().id) : undefined,
	};
	const identifyBy = p<string>('identifyBy', 'id');
	const data = jsonParameter(o.mergeData, 'mergeData');
	const request: SendRequest =
		identifyBy === 'email'
			? { email: String(p<string>('email') ?? '') }
			: { contactId: String(p<string>('contactId') ?? '') };
	return { spec, request: { ...request, data, attemptKey: attemptKeyOf(ctx, i, item, triggerEventId) } };
}

/**
 * The same on every delivery of one Contact Trigger event to this node: the event id, with the
 * workflow and node, so that another workflow (or node) sending the same campaign for the same
 * event never takes over this one's reservation. The event is on the item itself when Send Campaign
 * follows the trigger, or on the trigger's item the item is paired back to (a Contact node in
 * between outputs the contact, not the event): without it, a delivery retried after its worker
 * died would find the dead execution's reservation and skip the contact.
 */
function attemptKeyOf(
	ctx: IExecuteFunctions,
	i: number,
	json: IDataObject,
	triggerEventId: TriggerEventLookup,
): string | undefined {
	const eventId = eventIdOf(json) ?? triggerEventId(i);
	return eventId ? `event:${eventId}|${ctx.getWorkflow().id ?? ''}|${ctx.getNode().name}` : undefined;
}

function eventIdOf(json: IDataObject | undefined): string | undefined {
	const id = (json?.event as IDataObject | undefined)?.id;
	return typeof id === 'string' && id ? id : undefined;
}

/** The event id of the Contact Trigger item that input item `i` comes from, if any. */
type TriggerEventLookup = (i: number) => string | undefined;

/**
 * Looks at the Contact Triggers this node runs after (their items carry the event a retry delivers
 * again) on first use. A trigger that emitted one item (Batch Size 1, the default) started every item
 * of the execution, so its event is read once, not through n8n's paired items per item: a fan-out
 * of thousands of contacts after one event would build a data proxy per item.
 */
function triggerEventLookup(ctx: IExecuteFunctions): TriggerEventLookup {
	let lookups: TriggerEventLookup[] | undefined;
	return (i) => {
		lookups ??= ctx
			.getParentNodes(ctx.getNode().name)
			.filter((n) => n.type.endsWith(`.${CONTACT_TRIGGER_NAME}`))
			.map(({ name }) => {
				const emitted = guarded(() => ctx.getWorkflowDataProxy(0).$(name).all() as INodeExecutionData[]) ?? [];
				if (emitted.length === 1) {
					const id = eventIdOf(emitted[0].json);
					return () => id;
				}
				// Several events in one execution: the item's own, through its pairing.
				return emitted.length === 0
					? () => undefined
					: (item: number) => eventIdOf(guarded(() => ctx.getWorkflowDataProxy(item).$(name).item?.json));
			});
		for (const lookup of lookups) {
			const id = lookup(i);
			if (id) return id;
		}
		return undefined;
	};
}

/** Not run in this execution, or not paired back to it (another branch, pairing lost): nothing. */
function guarded<T>(read: () => T): T | undefined {
	try {
		return read();
	} catch {
		return undefined;
	}
}

const OUTPUT_OF: Record<string, number> = { deferred: DEFERRED, skipped: SKIPPED };

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const operation = this.getNodeParameter('operation', 0) as string;
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
			const triggerEventId = triggerEventLookup(this);
			const inputs = perItem(this, (i) =>
				readItem(this, i, items[i].json, String(store.signingSecret ?? ''), triggerEventId),
			);
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
			// Items usually share one campaign; each distinct campaign is one batch. One at a time: a
			// later batch must see the reservations of an earlier one for the same event (attempt key).
			results = (await runGrouped(
				inputs,
				(input) => JSON.stringify(input.spec),
				(group) =>
					campaigns.send(
						group[0].spec,
						group.map((input) => input.request),
						target,
						context,
					),
				{ oneAtATime: true },
			)) as unknown as Array<Result<IDataObject>>;
		}
		const outputs = routeResults(this, results, 3, SKIPPED, (value, itemIndex) => ({
			output: OUTPUT_OF[String(value.status)] ?? SENT,
			item: { json: operation === 'report' ? value : { ...items[itemIndex].json, ...value } },
		}));
		// Earliest sendAt first: a Wait node resumes at item 0's time, so "Deferred -> Wait until
		// sendAt -> this node" releases the earliest group each round and defers the rest again.
		outputs[DEFERRED].sort((a, b) => String(a.json.sendAt).localeCompare(String(b.json.sendAt)));
		return outputs;
	} finally {
		mailer?.release();
		lease.release();
	}
}
