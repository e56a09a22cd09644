import { ConflictError, NotFoundError, ValidationError } from '../errors';
import { CONTACT_KEY_SUFFIXES, CORE_FIELDS } from '../keys';
import { historyEntry } from '../events';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { chainJson, settleAll, type ChangeContext, type Result } from '../results';
import {
	checkContactId,
	checkName,
	checkTimeZone,
	decodeFieldValue,
	encodeFieldValue,
	LIMITS,
	normalizeEmail,
	toTimestamp,
	type FieldType,
} from '../values';

/** How old an e-mail claim without its contact must be before another contact may take it over. */
const STALE_CLAIM_MS = 60_000;

export const SUBSCRIPTION_STATUSES = ['subscribed', 'unsubscribed', 'bounced', 'complained', 'pending'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];
/** Statuses that must never receive marketing mail. */
export const SUPPRESSED_STATUSES: readonly SubscriptionStatus[] = ['unsubscribed', 'bounced', 'complained'];

export interface FieldInput {
	value: unknown;
	/** Inferred from the JS type when absent; ISO strings stay strings unless typed "date". */
	type?: FieldType;
}

export interface ContactInput {
	/** CRM id or e-mail; when absent the contact is found by e-mail, or the e-mail becomes its id. */
	id?: string;
	email?: string | null;
	timezone?: string | null;
	lifecycleStage?: string | null;
	/** null removes a field. */
	fields?: Record<string, unknown | FieldInput | null>;
	addTags?: string[];
	removeTags?: string[];
	subscription?: {
		status: SubscriptionStatus;
		source: string;
		at?: unknown;
		/** Change the status only when it is this one now (checked atomically with the change). */
		from?: SubscriptionStatus;
		/** Proof of an opt-in confirmation (GDPR art. 7): kept with the source and time until the next one. */
		proof?: { ip?: string; userAgent?: string };
	};
	/** Per-item source and workflow chain; overrides the batch context of `change`. */
	context?: ChangeContext;
}

export type ChangeMode = 'upsert' | 'create' | 'update';

export interface ContactEvent {
	id: string;
	name: string;
	props: Record<string, unknown>;
}

export interface ChangeResult {
	contactId: string;
	created: boolean;
	/** The events this change logged ($field_changed, $tag_added, ...). */
	events: ContactEvent[];
}

export interface EventCounter {
	count: number;
	first: string;
	last: string;
}

export interface Contact {
	id: string;
	email?: string;
	timezone?: string;
	lifecycleStage?: string;
	subscription?: {
		status: SubscriptionStatus;
		source?: string;
		at?: string;
		/** The last double opt-in confirmation: proof of consent (GDPR art. 7). */
		confirmation?: ConsentProof;
	};
	fields: Record<string, string | number | boolean>;
	fieldTypes: Record<string, FieldType>;
	tags: string[];
	createdAt: string;
	updatedAt: string;
	lastActivityAt?: string;
	lastEventAt?: string;
	events: Record<string, EventCounter>;
	/** Extra core-hash fields other modules keep (score, tier...), as stored. */
	attributes: Record<string, string>;
}

export interface ConsentProof {
	source: string;
	at: string;
	ip: string;
	userAgent: string;
}

/** Core-hash fields of the last opt-in confirmation (Contact.subscription.confirmation). */
const CONFIRMATION_FIELDS = ['confirmedSource', 'confirmedAt', 'confirmedIp', 'confirmedUserAgent'];

interface Prepared {
	id?: string;
	email?: string | null;
	request: {
		attrs: Record<string, string | false>;
		fields: Record<string, string | false>;
		addTags: string[];
		removeTags: string[];
		subscription?: {
			status: string;
			source: string;
			at: number;
			from?: string;
			proof?: { ip: string; userAgent: string };
		};
	};
}

const iso = (ms: string | undefined) => (ms ? new Date(Number(ms)).toISOString() : undefined);

function pairs(flat: string[]): Record<string, string> {
	const out: Record<string, string> = {};
	for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
	return out;
}

function checkTags(field: string, tags: unknown): string[] {
	if (tags === undefined || tags === null) return [];
	const list =
		typeof tags === 'string'
			? tags
					.split(',')
					.map((t) => t.trim())
					.filter(Boolean)
			: tags;
	if (!Array.isArray(list)) throw new ValidationError(field, 'Tags must be a list or a comma-separated string');
	if (list.length > LIMITS.tagsPerChange)
		throw new ValidationError(field, `${list.length} tags in one change; the limit is ${LIMITS.tagsPerChange}`);
	return [...new Set(list.map((t) => checkName(field, t, LIMITS.tagLength, 'Tag')))];
}

export function prepareChange(input: ContactInput, now: number): Prepared {
	if (input === null || typeof input !== 'object')
		throw new ValidationError('contact', 'The contact must be an object');
	const attrs: Record<string, string | false> = {};
	const id = input.id === undefined || input.id === '' ? undefined : checkContactId(input.id, 'id');
	let email: string | null | undefined;
	if (input.email === null) attrs.email = false;
	else if (input.email !== undefined && input.email !== '') attrs.email = email = normalizeEmail(input.email);
	if (!id && !email) throw new ValidationError('id', 'A contact needs an ID or an e-mail address');
	if (input.timezone === null) attrs.timezone = false;
	else if (input.timezone !== undefined && input.timezone !== '') attrs.timezone = checkTimeZone(input.timezone);
	if (input.lifecycleStage === null) attrs.lifecycleStage = false;
	else if (input.lifecycleStage !== undefined && input.lifecycleStage !== '') {
		attrs.lifecycleStage = checkName('lifecycleStage', input.lifecycleStage, 64, 'Lifecycle stage');
	}

	const fields: Record<string, string | false> = {};
	if (input.fields !== undefined && input.fields !== null) {
		if (typeof input.fields !== 'object' || Array.isArray(input.fields)) {
			throw new ValidationError('fields', 'Fields must be an object of name: value');
		}
		const count = Object.keys(input.fields).length;
		if (count > LIMITS.fieldsPerChange)
			throw new ValidationError('fields', `${count} fields in one change; the limit is ${LIMITS.fieldsPerChange}`);
		for (const [rawName, raw] of Object.entries(input.fields)) {
			const name = checkName(`fields.${rawName}`, rawName, LIMITS.fieldNameLength, 'Field name');
			if (raw === null) {
				fields[name] = false;
				continue;
			}
			const typed =
				raw && typeof raw === 'object' && !(raw instanceof Date) && 'value' in raw
					? (raw as FieldInput)
					: { value: raw };
			fields[name] = encodeFieldValue(name, typed.value, typed.type);
		}
	}

	let subscription: Prepared['request']['subscription'];
	if (input.subscription) {
		const { status, source, at, from, proof } = input.subscription;
		for (const [field, value] of [
			['subscription.status', status],
			['subscription.from', from ?? status],
		] as const) {
			if (!SUBSCRIPTION_STATUSES.includes(value)) {
				throw new ValidationError(
					field,
					`"${value}" is not a subscription status`,
					`Use one of ${SUBSCRIPTION_STATUSES.join(', ')}.`,
				);
			}
		}
		subscription = {
			status,
			source: checkName('subscription.source', source || 'unknown', 200, 'Consent source'),
			at: at === undefined || at === '' ? now : toTimestamp(at, 'subscription.at'),
			...(from ? { from } : {}),
			...(proof
				? { proof: { ip: String(proof.ip ?? '').slice(0, 64), userAgent: String(proof.userAgent ?? '').slice(0, 512) } }
				: {}),
		};
	}

	return {
		id,
		email,
		request: {
			attrs,
			fields,
			addTags: checkTags('addTags', input.addTags),
			removeTags: checkTags('removeTags', input.removeTags),
			subscription,
		},
	};
}

export class Contacts {
	constructor(private readonly store: ContactStore) {}

	/**
	 * Creates or changes contacts. A batch costs a fixed number of round trips: resolve e-mails,
	 * claim e-mails, apply the changes, release replaced e-mails.
	 */
	async change(
		inputs: ContactInput[],
		mode: ChangeMode = 'upsert',
		context: ChangeContext = {},
	): Promise<Array<Result<ChangeResult>>> {
		const { store } = this;
		const now = store.now();
		const prepared = inputs.map((input) => {
			try {
				return prepareChange(input, now);
			} catch (error) {
				return error as Error;
			}
		});

		// 1. Contacts given only by e-mail: the existing owner, or the e-mail itself as id.
		const ids = await settleAll(prepared, async (p) => {
			if (p instanceof Error) throw p;
			if (p.id) return p.id;
			const owner = await this.idForEmail(p.email as string);
			if (!owner && mode === 'update') throw new NotFoundError('email', `No contact has the e-mail ${p.email}`);
			return owner ?? (p.email as string);
		});

		// 2. Claim new e-mail addresses in the e-mail index (it lives in another shard).
		const claims = await settleAll(prepared, async (p, i) => {
			const idResult = ids[i];
			if (!idResult.ok) throw idResult.error;
			if (p instanceof Error || !p.email) return false;
			await this.claim(p.email, idResult.value);
			return true;
		});

		// 3. Apply each change atomically on the contact's shard.
		const applied = await settleAll(prepared, async (p, i) => {
			const claim = claims[i];
			if (!claim.ok) throw claim.error;
			const id = (ids[i] as { value: string }).value;
			const itemContext = inputs[i].context ?? context;
			const raw = await store.run<string>(
				scripts.applyContactChange,
				[store.keys.contact(id), store.keys.shard(store.keys.shardOfContact(id))],
				[
					JSON.stringify({
						id,
						now,
						mode,
						...(p as Prepared).request,
						source: itemContext.source ?? 'api',
						chain: chainJson(itemContext.chain),
						limits: store.limits,
						max: { fields: LIMITS.fieldsPerContact, tags: LIMITS.tagsPerContact },
					}),
				],
			);
			const out = JSON.parse(raw) as {
				created: boolean;
				oldEmail: string | false;
				events: ContactEvent[] | Record<string, never>;
			};
			// cjson encodes an empty Lua table as {}.
			const events = Array.isArray(out.events)
				? out.events.map((e) => ({ ...e, props: Array.isArray(e.props) ? {} : e.props }))
				: [];
			return { id, created: out.created, oldEmail: out.oldEmail, events };
		});

		// 4. Release replaced addresses, and claims whose change failed.
		await settleAll(prepared, async (p, i) => {
			const result = applied[i];
			if (p instanceof Error) return;
			if (result.ok) {
				const { oldEmail, id } = result.value;
				if (oldEmail && p.request.attrs.email !== undefined && oldEmail !== p.email) await this.release(oldEmail, id);
			} else if (claims[i].ok && (claims[i] as { value: boolean }).value && ids[i].ok) {
				const id = (ids[i] as { value: string }).value;
				if (!(await store.call((r) => r.exists(store.keys.contact(id))))) await this.release(p.email as string, id);
			}
		});

		return applied.map((r) =>
			r.ok ? { ok: true, value: { contactId: r.value.id, created: r.value.created, events: r.value.events } } : r,
		);
	}

	async upsert(inputs: ContactInput[], context?: ChangeContext) {
		return this.change(inputs, 'upsert', context);
	}

	async idForEmail(email: string): Promise<string | null> {
		const normalized = normalizeEmail(email);
		return this.store.call((r) => r.hget(this.store.keys.emailIndex(normalized), normalized));
	}

	/** Finds the ids of contacts given by id or e-mail (one round trip for the batch). */
	async resolve(refs: Array<{ id?: string; email?: string }>): Promise<Array<Result<string>>> {
		return settleAll(refs, async (ref) => {
			if (ref.id !== undefined && ref.id !== '') return checkContactId(ref.id, 'id');
			if (ref.email === undefined || ref.email === '')
				throw new ValidationError('id', 'Give a contact ID or an e-mail address');
			const id = await this.idForEmail(ref.email);
			if (!id) throw new NotFoundError('email', `No contact has the e-mail ${normalizeEmail(ref.email)}`);
			return id;
		});
	}

	private async claim(email: string, id: string): Promise<void> {
		const { store } = this;
		const index = store.keys.emailIndex(email);
		const owner = await store.run<string>(scripts.claimEmail, [index], [email, id, '0', STALE_CLAIM_MS]);
		if (owner === id) return;
		const conflict = () => new ConflictError('email', `The e-mail ${email} already belongs to contact "${owner}"`);
		if (await store.call((r) => r.exists(store.keys.contact(owner)))) throw conflict();
		// A claim left behind by a contact that no longer exists (a crash between claim and create) is
		// taken over once stale; a fresh one belongs to a contact another batch is creating right now.
		if ((await store.run<string>(scripts.claimEmail, [index], [email, id, '1', STALE_CLAIM_MS])) !== id)
			throw conflict();
	}

	private async release(email: string, id: string): Promise<void> {
		await this.store.run(scripts.releaseEmail, [this.store.keys.emailIndex(email)], [email, id]);
	}

	/** Reads contacts by id; null where a contact does not exist. One round trip per batch. */
	async get(ids: string[]): Promise<Array<Result<Contact | null>>> {
		return settleAll(ids, async (rawId) => {
			const id = checkContactId(rawId, 'id');
			const raw = await this.store.run<[string[], string[], string[], string[]] | null>(
				scripts.readContact,
				[this.store.keys.contact(id)],
				[],
			);
			return raw ? toContact(raw) : null;
		});
	}

	async getOne(id: string): Promise<Contact | null> {
		const [result] = await this.get([id]);
		if (!result.ok) throw result.error;
		return result.value;
	}

	/** GDPR art. 17: removes every key, index entry and log entry of each contact. */
	async erase(ids: string[]): Promise<Array<Result<{ contactId: string; erased: boolean }>>> {
		const { store } = this;
		return settleAll(ids, async (rawId) => {
			const id = checkContactId(rawId, 'id');
			const email = await store.run<string | null>(
				scripts.eraseContact,
				[store.keys.contact(id), store.keys.shard(store.keys.shardOfContact(id))],
				[id],
			);
			if (email) await this.release(email, id);
			return { contactId: id, erased: email !== null };
		});
	}

	/** GDPR art. 15: everything held on each contact, key by key. */
	async export(ids: string[]): Promise<Array<Result<Record<string, unknown> | null>>> {
		const { store } = this;
		return settleAll(ids, async (rawId) => {
			const id = checkContactId(rawId, 'id');
			const base = store.keys.contact(id);
			const contact = await this.getOne(id);
			if (!contact) return null;
			const subKeys = (await store.call((r) => r.smembers(store.keys.contactKey(id, 'keys')))).sort();
			const data: Record<string, unknown> = {};
			await Promise.all(
				subKeys.map(async (key) => {
					const type = await store.call((r) => r.type(key));
					const name = key.slice(base.length + 1);
					if (type === 'hash') data[name] = await store.call((r) => r.hgetall(key));
					else if (type === 'set') data[name] = (await store.call((r) => r.smembers(key))).sort();
					else if (type === 'zset') data[name] = pairs(await store.call((r) => r.zrange(key, 0, -1, 'WITHSCORES')));
					else if (type === 'string') data[name] = await store.call((r) => r.get(key));
					else if (type === 'list') data[name] = await store.call((r) => r.lrange(key, 0, -1));
				}),
			);
			const history = Object.keys((data[CONTACT_KEY_SUFFIXES.history] as Record<string, string>) ?? {}).map(
				historyEntry,
			);
			return {
				contact,
				// GDPR art. 7: the consent held and, after a double opt-in, its confirmation.
				consent: contact.subscription ?? null,
				eventHistory: history,
				storedKeys: data,
				exportedAt: new Date(store.now()).toISOString(),
			};
		});
	}
}

export function toContact([core, rawFields, tags, counters]: [string[], string[], string[], string[]]): Contact {
	const h = pairs(core);
	const fields: Contact['fields'] = {};
	const fieldTypes: Contact['fieldTypes'] = {};
	for (const [name, enc] of Object.entries(pairs(rawFields))) {
		const { type, value } = decodeFieldValue(enc);
		fields[name] = value;
		fieldTypes[name] = type;
	}
	const events: Contact['events'] = {};
	for (const [key, value] of Object.entries(pairs(counters))) {
		const at = key.indexOf(':');
		const kind = key.slice(0, at);
		const name = key.slice(at + 1);
		const counter = (events[name] ??= { count: 0, first: '', last: '' });
		if (kind === 'count') counter.count = Number(value);
		else if (kind === 'first') counter.first = iso(value) as string;
		else if (kind === 'last') counter.last = iso(value) as string;
	}
	const known = new Set<string>([...CORE_FIELDS, ...CONFIRMATION_FIELDS]);
	const attributes: Record<string, string> = {};
	for (const [k, v] of Object.entries(h)) if (!known.has(k)) attributes[k] = v;
	return {
		id: h.id,
		email: h.email,
		timezone: h.timezone,
		lifecycleStage: h.lifecycleStage,
		subscription: h.status
			? {
					status: h.status as SubscriptionStatus,
					source: h.consentSource,
					at: iso(h.consentAt),
					...(h.confirmedAt
						? {
								confirmation: {
									source: h.confirmedSource,
									at: iso(h.confirmedAt) as string,
									ip: h.confirmedIp,
									userAgent: h.confirmedUserAgent,
								},
							}
						: {}),
				}
			: undefined,
		fields,
		fieldTypes,
		tags: tags.sort(),
		createdAt: iso(h.createdAt) as string,
		updatedAt: iso(h.updatedAt) as string,
		lastActivityAt: iso(h.lastActivityAt),
		lastEventAt: iso(h.lastEventAt),
		events,
		attributes,
	};
}
