import { ConflictError, NotFoundError, ValidationError } from '../errors';
import {
	CONTACT_HASH_PREFIXES,
	CONTACT_KEY_SUFFIXES,
	CORE_FIELDS,
	CREATED_EVENT_FIELD,
	NAMED_CONTACT_KEYS,
	shardOf,
	type ContactKeyKind,
} from '../keys';
import { createdEntry, historyEntry, SYSTEM_EVENTS } from '../events';
import { LIMITS } from '../limits';
import { decodeScoreCache } from '../scoring/decay';
import { toStoreError } from '../redis/connection';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { Visitors } from '../visitors';
import { chainJson, settleAll, type ChangeContext, type Result } from '../results';
import {
	checkContactId,
	checkName,
	checkTimeZone,
	decodeFieldValue,
	encodeFieldValue,
	fieldValueOf,
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
		/** Each undefined when not given, false when cleared. */
		attrs: CoreAttributes;
		fields: Record<string, string | false>;
		addTags: readonly string[];
		removeTags: readonly string[];
		subscription?: {
			status: string;
			source: string;
			at: number;
			from?: string;
			proof?: { ip: string; userAgent: string };
		};
	};
}

/** The core attributes a change sets (a string) or clears (false). */
interface CoreAttributes {
	email: string | false | undefined;
	timezone: string | false | undefined;
	lifecycleStage: string | false | undefined;
}

interface Applied {
	id: string;
	created: boolean;
	oldEmail: string | null;
	events: ContactEvent[];
}

interface EmailClaim {
	email: string;
	id: string;
}

/** An item's claim: the item's index in the batch. */
interface ListedClaim extends EmailClaim {
	i: number;
}

/** Whether an input names no contact id, so that its contact is found by its e-mail (prepareChange). */
const findsByEmail = (input: ContactInput) =>
	input !== null && typeof input === 'object' && (input.id === undefined || input.id === '');

/** After a change: the address's claim time goes (written), or the address itself (release). */
interface EmailSettle extends EmailClaim {
	release: boolean;
}

const iso = (ms: string | undefined) => (ms ? new Date(Number(ms)).toISOString() : undefined);

/** What an absent tag list prepares to: shared, as nothing adds to a prepared list. */
const NO_TAGS: readonly string[] = [];

function checkTags(field: string, tags: unknown): readonly string[] {
	if (tags === undefined || tags === null) return NO_TAGS;
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
	// Each tag once, in the order of its first mention: a search of the few before it, no Set and no
	// copies per item (a batch checks thousands of lists).
	const checked: string[] = [];
	for (let k = 0; k < list.length; k++) {
		const tag = checkName(field, list[k], LIMITS.tagLength, 'Tag');
		if (!checked.includes(tag)) checked.push(tag);
	}
	return checked;
}

function checkStatus(field: string, value: unknown): void {
	if (!SUBSCRIPTION_STATUSES.includes(value as SubscriptionStatus)) {
		throw new ValidationError(
			field,
			`"${value}" is not a subscription status`,
			`Use one of ${SUBSCRIPTION_STATUSES.join(', ')}.`,
		);
	}
}

export function prepareChange(input: ContactInput, now: number): Prepared {
	if (input === null || typeof input !== 'object')
		throw new ValidationError('contact', 'The contact must be an object');
	// One shape for every item's attributes, each read by its name (not keyed by a string per item).
	const attrs: CoreAttributes = { email: undefined, timezone: undefined, lifecycleStage: undefined };
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
		const names = Object.keys(input.fields);
		if (names.length > LIMITS.fieldsPerChange)
			throw new ValidationError(
				'fields',
				`${names.length} fields in one change; the limit is ${LIMITS.fieldsPerChange}`,
			);
		// Index loops over the names, no [name, value] pair or { value } wrapper per field.
		for (let k = 0; k < names.length; k++) {
			const rawName = names[k];
			const raw: unknown = (input.fields as Record<string, unknown>)[rawName];
			const name = checkName(`fields.${rawName}`, rawName, LIMITS.fieldNameLength, 'Field name');
			if (raw === null) fields[name] = false;
			else if (raw && typeof raw === 'object' && !(raw instanceof Date) && 'value' in raw) {
				const typed = raw as FieldInput;
				fields[name] = encodeFieldValue(name, typed.value, typed.type);
			} else fields[name] = encodeFieldValue(name, raw);
		}
	}

	let subscription: Prepared['request']['subscription'];
	if (input.subscription) {
		const { status, source, at, from, proof } = input.subscription;
		checkStatus('subscription.status', status);
		checkStatus('subscription.from', from ?? status);
		subscription = {
			status,
			source: checkName('subscription.source', source || 'unknown', 200, 'Consent source'),
			at: at === undefined || at === '' ? now : toTimestamp(at, 'subscription.at'),
		};
		if (from) subscription.from = from;
		if (proof)
			subscription.proof = {
				ip: String(proof.ip ?? '').slice(0, 64),
				userAgent: String(proof.userAgent ?? '').slice(0, 512),
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

/**
 * The properties of the $contact_created a change logs when it creates its contact: every value it
 * sets (a new contact has none to compare with), as $field_changed would name them; a subscription
 * only when it may change from any status.
 */
function createdProps(request: Prepared['request']): Record<string, unknown> {
	const props: Record<string, unknown> = {};
	const { attrs } = request;
	if (attrs.email) props.email = attrs.email;
	if (attrs.timezone) props.timezone = attrs.timezone;
	if (attrs.lifecycleStage) props.lifecycleStage = attrs.lifecycleStage;
	let fields: Record<string, unknown> | undefined;
	for (const name in request.fields) {
		const encoded = request.fields[name];
		if (encoded !== false) (fields ??= {})[name] = fieldValueOf(encoded);
	}
	if (fields) props.fields = fields;
	const { removeTags } = request;
	const tags = removeTags.length > 0 ? request.addTags.filter((tag) => !removeTags.includes(tag)) : request.addTags;
	if (tags.length > 0) props.tags = tags;
	const { subscription } = request;
	if (subscription && !subscription.from)
		props.subscription = { status: subscription.status, source: subscription.source };
	return props;
}

/**
 * An e-mail, time zone or lifecycle stage cleared, in apply_contact_changes' arguments: none of their
 * valid values holds a control character (normalizeEmail, checkTimeZone, checkName refuse them).
 */
const CLEARED = '\u0001';

/** An e-mail, time zone or lifecycle stage in apply_contact_changes' arguments. */
const attrArg = (value: string | false | undefined) => (value === undefined ? '' : value === false ? CLEARED : value);

/**
 * apply_contact_changes' arguments for one item (the script's header names them), pushed one by one
 * (no pair per field, no spread copies: a batch builds thousands).
 */
function changeArgs(
	id: string,
	request: Prepared['request'],
	own: ChangeContext | undefined,
	created: Record<string, unknown>,
): Array<string | number> {
	const args: Array<string | number> = [id];
	if (own) args.push('1', own.source ?? 'api', chainJson(own.chain));
	else args.push('0');
	const { attrs, subscription, addTags, removeTags } = request;
	args.push(attrArg(attrs.email), attrArg(attrs.timezone), attrArg(attrs.lifecycleStage));
	if (subscription) {
		const { proof } = subscription;
		args.push(subscription.status, subscription.source, subscription.at, subscription.from ?? '');
		if (proof) args.push('1', proof.ip, proof.userAgent);
		else args.push('0');
	} else args.push('');
	const fieldCount = args.length;
	args.push(0);
	let fields = 0;
	for (const name in request.fields) {
		const encoded = request.fields[name];
		args.push(name, encoded === false ? '' : encoded);
		fields++;
	}
	args[fieldCount] = fields;
	args.push(addTags.length);
	for (let k = 0; k < addTags.length; k++) args.push(addTags[k]);
	args.push(removeTags.length);
	for (let k = 0; k < removeTags.length; k++) args.push(removeTags[k]);
	args.push(JSON.stringify(created));
	return args;
}

export class Contacts {
	constructor(private readonly store: ContactStore) {}

	/**
	 * Creates or changes contacts. A batch costs a fixed number of round trips: resolve e-mails,
	 * claim e-mails, apply the changes, settle the claims; each a batch script call per shard chunk
	 * (the settling waited for only when it releases addresses).
	 */
	async change(
		inputs: ContactInput[],
		mode: ChangeMode = 'upsert',
		context: ChangeContext = {},
	): Promise<Array<Result<ChangeResult>>> {
		const { store } = this;
		const now = store.now();
		const prepared: Array<Prepared | Error> = new Array(inputs.length);
		const ids: Array<Result<string>> = new Array(inputs.length);
		// The items' e-mail claims, in item order (the first item to claim an address has it).
		const listed: ListedClaim[] = [];
		// Contacts given only by e-mail are looked up before anything of the batch is claimed. The
		// claims go out in one round once every item is prepared: sent in slices of 200 while the rest
		// was prepared, they cost this process about 7 us more per contact (more calls and round trips)
		// and the batch about a sixth of its rate, measured alternating in one process.
		const lookUp = inputs.some(findsByEmail);
		for (let i = 0; i < inputs.length; i++) {
			try {
				const p = prepareChange(inputs[i], now);
				prepared[i] = p;
				ids[i] = { ok: true, value: p.id ?? '' };
				if (!lookUp && p.email) listed.push({ i, email: p.email, id: p.id as string });
			} catch (error) {
				prepared[i] = error as Error;
				ids[i] = { ok: false, error: error as Error };
			}
		}

		// 1. Contacts given only by e-mail: the existing owner, or the e-mail itself as id.
		if (lookUp) {
			const byEmail = prepared.flatMap((p, i) => (p instanceof Error || p.id ? [] : [i]));
			const owners = await settleAll(byEmail, async (i) => {
				const { email } = prepared[i] as Prepared;
				const owner = await this.idForEmail(email as string);
				if (!owner && mode === 'update') throw new NotFoundError('email', `No contact has the e-mail ${email}`);
				return owner ?? (email as string);
			});
			byEmail.forEach((i, k) => (ids[i] = owners[k]));
			prepared.forEach((p, i) => {
				const id = ids[i];
				if (!(p instanceof Error) && p.email && id.ok) listed.push({ i, email: p.email, id: id.value });
			});
		}

		// 2. Claim new e-mail addresses in the e-mail index (it lives in another shard).
		const claims = await this.claim(inputs.length, listed, await this.claimRound(listed, false));

		// 3. Apply the changes, each atomically on its contact's shard.
		const shared = JSON.stringify({
			now,
			mode,
			source: context.source ?? 'api',
			chain: chainJson(context.chain),
			limits: store.limits,
			max: { fields: LIMITS.fieldsPerContact, tags: LIMITS.tagsPerContact },
		});
		// Items that failed so far fail alone; with none left, nothing is sent.
		const applied = prepared.map((_, i) => {
			const id = ids[i];
			const claim = claims[i];
			return !id.ok ? id : claim && !claim.ok ? claim : undefined;
		}) as Array<Result<Applied>>;
		const ready = prepared.flatMap((_, i) => (applied[i] ? [] : [i]));
		// The $contact_created of each item, should it create its contact (an update never does).
		const created: Array<Record<string, unknown>> = new Array(ready.length);
		if (ready.length > 0) {
			// A store this version cannot run (a newer format) fails every item, not the call.
			const results = await store
				.runBatch<number, Applied>({
					script: scripts.applyContactChanges,
					packed: true,
					lastApart: true,
					items: ready,
					shared,
					contactOf: (i) => (ids[i] as { value: string }).value,
					argsOf: (i, position, id) => {
						const { request } = prepared[i] as Prepared;
						created[position] = mode === 'update' ? {} : createdProps(request);
						return changeArgs(id, request, inputs[i].context, created[position]);
					},
					answer: (answer, position, id) => {
						// The $contact_created id when it created the contact; else 0, the old e-mail, then the
						// events it logged (from logged[2] on).
						if (typeof answer === 'string')
							return {
								id,
								created: true,
								oldEmail: null,
								events: [{ id: answer, name: SYSTEM_EVENTS.contactCreated, props: created[position] }],
							};
						const [, oldEmail] = answer as [number, string | null];
						const logged = answer as string[];
						const events: ContactEvent[] = [];
						for (let k = 2; k < logged.length; k += 3)
							events.push({ id: logged[k], name: logged[k + 1], props: JSON.parse(logged[k + 2]) });
						return { id, created: false, oldEmail, events };
					},
				})
				.catch((error: unknown) =>
					ready.map((): Result<Applied> => ({ ok: false, error: toStoreError(error) as Error })),
				);
			ready.forEach((i, k) => (applied[i] = results[k]));
		}

		// 4. Settle the addresses the changes replaced or wrote, and the claims of failed changes. A
		// contact's items apply in their order, so the address it has after its last applied item is
		// the one it keeps: every other address it had or claimed in the batch is released (only while
		// it still points at the contact), whatever the item order (e -> f -> e keeps e, releases f).
		// The kept one's claim time goes (it only guards claims of contacts not yet written).
		const emailAfter = new Map<string, string | null>();
		prepared.forEach((p, i) => {
			const result = applied[i];
			if (p instanceof Error || !result.ok) return;
			const { id, oldEmail } = result.value;
			emailAfter.set(id, p.request.attrs.email === undefined ? oldEmail : (p.email ?? null));
		});
		const settles: EmailSettle[] = [];
		const settle = (email: string, id: string) => settles.push({ email, id, release: email !== emailAfter.get(id) });
		prepared.forEach((p, i) => {
			const result = applied[i];
			if (p instanceof Error || !result.ok) return;
			const { oldEmail, id, created } = result.value;
			if (p.email && (created || oldEmail !== p.email)) settle(p.email, id);
			if (oldEmail && p.request.attrs.email !== undefined && oldEmail !== p.email) settle(oldEmail, id);
		});
		// A failed change's claim, when no item of its contact applied: released unless the contact
		// has the address (read now: a failed batch call may have applied it), only while it still
		// points at the contact, like a replaced address. An address whose contact's e-mail cannot be
		// read stays claimed (a later claim for another contact takes it over once stale).
		const failedClaims: number[] = [];
		prepared.forEach((p, i) => {
			if (applied[i].ok || !claims[i]?.ok) return;
			const id = (ids[i] as { value: string }).value;
			if (emailAfter.has(id)) settle((p as Prepared).email as string, id);
			else failedClaims.push(i);
		});
		const emailsNow = await Promise.all(
			failedClaims.map((i) =>
				store
					.call((r) => r.hget(store.keys.contact((ids[i] as { value: string }).value), 'email'))
					.catch(() => undefined),
			),
		);
		failedClaims.forEach((i, k) => {
			const email = (prepared[i] as Prepared).email as string;
			if (emailsNow[k] !== undefined && emailsNow[k] !== email)
				settles.push({ email, id: (ids[i] as { value: string }).value, release: true });
		});
		await this.settleEmails(settles);

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

	/**
	 * Each item's e-mail claim (undefined: nothing to claim), from the first round's owners of the
	 * listed claims (claimRound): on conflicts a look at the owners and one more call.
	 */
	private async claim(
		count: number,
		listed: ListedClaim[],
		owners: Array<Result<string>>,
	): Promise<Array<Result<true> | undefined>> {
		const { store } = this;
		const results: Array<Result<true> | undefined> = new Array(count);
		const contested: Array<ListedClaim & { owner: string }> = [];
		owners.forEach((owner, k) => {
			const { i, id } = listed[k];
			if (!owner.ok) results[i] = owner;
			else if (owner.value === id) results[i] = { ok: true, value: true };
			else contested.push({ ...listed[k], owner: owner.value });
		});
		if (contested.length === 0) return results;
		const conflict = (c: (typeof contested)[number]) =>
			new ConflictError('email', `The e-mail ${c.email} already belongs to contact "${c.owner}"`);
		const ownerEmails = await settleAll(contested, (c) =>
			store.call((r) => r.hget(store.keys.contact(c.owner), 'email')),
		);
		// A claim its contact does not hold, left behind by a contact that no longer exists (a crash
		// between claim and create) or by a change that failed, is taken over once stale (the claim
		// script checks): a fresh one may belong to a batch writing that contact right now, and such a
		// batch claiming the address again refreshes the claim's time.
		const stale = contested.filter((c, k) => {
			const held = ownerEmails[k];
			if (!held.ok) results[c.i] = held;
			else if (held.value === c.email) results[c.i] = { ok: false, error: conflict(c) };
			return held.ok && held.value !== c.email;
		});
		const retaken = await this.claimRound(stale, true);
		stale.forEach((c, k) => {
			const owner = retaken[k];
			if (!owner.ok) results[c.i] = owner;
			else results[c.i] = owner.value === c.id ? { ok: true, value: true } : { ok: false, error: conflict(c) };
		});
		return results;
	}

	private async claimRound(claims: EmailClaim[], takeOver: boolean): Promise<Array<Result<string>>> {
		if (claims.length === 0) return [];
		return this.store.runBatch<EmailClaim, string>({
			script: scripts.claimEmails,
			items: claims,
			shared: takeOver ? String(STALE_CLAIM_MS) : '',
			// The e-mail index lives in the shard of the address.
			contactOf: (claim) => claim.email,
			argsOf: (claim) => [claim.email, claim.id],
			upgraded: true,
			packed: true,
			width: 2,
		});
	}

	/**
	 * Drops claim times and releases addresses (settle_emails): one batch call per e-mail shard chunk.
	 * Waited for only when it releases an address: a claim time only lets a claim be taken over while
	 * its contact does not hold the address, and these contacts do, so dropping it is housekeeping that Redis does
	 * while this process goes on (the connection's next commands come after it; answers are not used).
	 */
	private async settleEmails(settles: EmailSettle[]): Promise<void> {
		if (settles.length === 0) return;
		const settled = this.store.runBatch<EmailSettle, number>({
			script: scripts.settleEmails,
			items: settles,
			shared: '',
			contactOf: (settle) => settle.email,
			// A written address's claim time goes whoever has it: its contact id is not sent.
			argsOf: (settle) => (settle.release ? [settle.email, settle.id, 'release'] : [settle.email, '', 'written']),
			upgraded: true,
			packed: true,
			width: 3,
		});
		if (settles.some((settle) => settle.release)) await settled;
		else settled.catch(() => undefined);
	}

	private async release(email: string, id: string): Promise<void> {
		const { keys } = this.store;
		await this.store.run(scripts.releaseEmail, [keys.emailIndex(email), keys.shard(shardOf(email))], [email, id]);
	}

	/** Reads contacts by id; null where a contact does not exist. One round trip per batch. */
	async get(ids: string[]): Promise<Array<Result<Contact | null>>> {
		if (!this.store.format.current) await this.upgradeFirst(ids);
		return settleAll(ids, async (rawId) => {
			const id = checkContactId(rawId, 'id');
			const core = await this.store.call((r) => r.hgetall(this.store.keys.contact(id)));
			return core.id === undefined ? null : toContact(core);
		});
	}

	/** While the store is being upgraded, the contacts a read names are upgraded first. */
	private async upgradeFirst(ids: unknown[]): Promise<void> {
		const valid = ids.flatMap((id) => {
			try {
				return [checkContactId(id, 'id')];
			} catch {
				return [];
			}
		});
		await this.store.format.upgradeContacts(valid);
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
			// Browser visitors tied to it live in other shards: read before its keys go, unlinked after.
			const visitors = new Visitors(store);
			const tied = await visitors.ofContact(id);
			const scriptKeys = store.keys.contactScriptKeys(id);
			// Its address is read before too, for an erase that ran before this one (an erase older
			// than erasedEmail's 60 s answers no address).
			const [existed, emailBefore] = await store.call((r) => r.hmget(scriptKeys[0], 'id', 'email'));
			// A resend of the call after a lost reply answers the address the first run removed, and 0.
			const [email, erasedNow] = await store.run<[string, number]>(scripts.eraseContact, scriptKeys, [id]);
			// release_email removes an address only while it points at this contact.
			for (const address of new Set([email, emailBefore])) if (address) await this.release(address, id);
			// The removed address waited for its release: nothing names the contact after the erase.
			if (email) await store.call((r) => r.del(store.keys.contactKey(id, 'erasedEmail')));
			await visitors.unlink(id, tied);
			return { contactId: id, erased: erasedNow === 1 || existed !== null };
		});
	}

	/**
	 * GDPR art. 15: everything held on each contact, key by key: its core hash and each of its other
	 * keys that exists (the per-model and per-scope ones found as erase finds them).
	 */
	async export(ids: string[]): Promise<Array<Result<Record<string, unknown> | null>>> {
		const { store } = this;
		if (!this.store.format.current) await this.upgradeFirst(ids);
		return settleAll(ids, async (rawId) => {
			const id = checkContactId(rawId, 'id');
			const base = store.keys.contact(id);
			const core = await store.call((r) => r.hgetall(base));
			if (core.id === undefined) return null;
			const shard = store.keys.shardOfContact(id);
			const names: string[] = [];
			for (const [kind, suffix] of Object.entries(CONTACT_KEY_SUFFIXES) as Array<[ContactKeyKind, string]>)
				if (!NAMED_CONTACT_KEYS.has(kind)) names.push(suffix);
			for (const field of Object.keys(core)) {
				const model = field.startsWith(CONTACT_HASH_PREFIXES.score) && field.slice(CONTACT_HASH_PREFIXES.score.length);
				if (model)
					names.push(`${CONTACT_KEY_SUFFIXES.scoreAwards}:${model}`, `${CONTACT_KEY_SUFFIXES.scoreValues}:${model}`);
			}
			const scopes = await store.call((r) => r.smembers(store.keys.shardKey(shard, 'loopScopes')));
			for (const scope of scopes) names.push(`${CONTACT_KEY_SUFFIXES.loopGuard}:${scope}`);
			const data: Record<string, unknown> = {};
			await Promise.all(
				names.map(async (name) => {
					const key = `${base}:${name}`;
					const type = await store.call((r) => r.type(key));
					if (type === 'hash') {
						const hash: Record<string, unknown> = await store.call((r) => r.hgetall(key));
						// Lead Score's running sums are packed (binary): shown as what they hold, or as stored
						// when they are not what the pack writes (the export still answers).
						if (hash['~cache'] !== undefined && name.startsWith(`${CONTACT_KEY_SUFFIXES.scoreValues}:`)) {
							const cache = await store.call((r) => r.hgetBuffer(key, '~cache'));
							try {
								if (cache) hash['~cache'] = decodeScoreCache(cache);
							} catch {
								// hgetall's text of it stays
							}
						}
						data[name] = hash;
					} else if (type === 'zset') data[name] = await store.call((r) => r.zrange(key, 0, -1, 'WITHSCORES'));
				}),
			);
			const members = (data[CONTACT_KEY_SUFFIXES.events] as string[] | undefined) ?? [];
			const properties = (data[CONTACT_KEY_SUFFIXES.eventProperties] as Record<string, string> | undefined) ?? {};
			const eventHistory = [
				...members.filter((_, i) => i % 2 === 0).map((member) => historyEntry(member, properties)),
				...createdEntry(core),
			]
				.sort((x, y) => y.ts - x.ts)
				.map(({ ts, ...entry }) => entry);
			const storedKeys = { core, ...Object.fromEntries(Object.entries(data).sort(([x], [y]) => (x < y ? -1 : 1))) };
			const contact = toContact(core);
			return {
				contact,
				// GDPR art. 7: the consent held and, after a double opt-in, its confirmation.
				consent: contact.subscription ?? null,
				eventHistory,
				storedKeys,
				exportedAt: new Date(store.now()).toISOString(),
			};
		});
	}
}

/** A contact from its core hash (HGETALL): core attributes, prefixed fields, tags and counters. */
export function toContact(h: Record<string, string>): Contact {
	const fields: Contact['fields'] = {};
	const fieldTypes: Contact['fieldTypes'] = {};
	const tags: string[] = [];
	const events: Contact['events'] = {};
	const attributes: Record<string, string> = {};
	const known = new Set<string>([...CORE_FIELDS, ...CONFIRMATION_FIELDS]);
	for (const [key, value] of Object.entries(h)) {
		if (key.startsWith(CONTACT_HASH_PREFIXES.field)) {
			const name = key.slice(CONTACT_HASH_PREFIXES.field.length);
			const decoded = decodeFieldValue(value);
			fields[name] = decoded.value;
			fieldTypes[name] = decoded.type;
		} else if (key.startsWith(CONTACT_HASH_PREFIXES.tag)) {
			tags.push(key.slice(CONTACT_HASH_PREFIXES.tag.length));
		} else if (key.startsWith(CONTACT_HASH_PREFIXES.counter)) {
			const [count, first, last] = value.split('|');
			events[key.slice(CONTACT_HASH_PREFIXES.counter.length)] = {
				count: Number(count),
				first: iso(first) as string,
				last: iso(last) as string,
			};
		} else if (!known.has(key) && key !== CREATED_EVENT_FIELD) attributes[key] = value;
	}
	if (h[CREATED_EVENT_FIELD] && !events[SYSTEM_EVENTS.contactCreated]) {
		const at = iso(h.createdAt) as string;
		events[SYSTEM_EVENTS.contactCreated] = { count: 1, first: at, last: at };
	}
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
