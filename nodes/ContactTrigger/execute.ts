import {
	NodeOperationError,
	type IDataObject,
	type INode,
	type IRun,
	type ITriggerFunctions,
	type ITriggerResponse,
} from 'n8n-workflow';
import {
	compileFilter,
	DateSchedule,
	DEFAULT_CONCURRENCY,
	definitionId,
	EventLogConsumer,
	InactivitySchedule,
	latestMatching,
	ScheduleRunner,
	ValidationError,
	type Contact,
	type ContactStore,
	type DueContact,
	type ExecutionEnd,
	type LeapDayRule,
	type LogEvent,
	type LogFilter,
	type PropertyCondition,
} from '../../lib';
import { leaseStore } from '../shared/store';

const DAY = 86_400_000;

type Definition =
	| { kind: 'log'; filter: LogFilter }
	| {
			kind: 'date';
			field: string;
			repeat: 'yearly' | 'once';
			offsetDays: number;
			hour: number;
			minute: number;
			fallbackZone: string;
			leapDay: LeapDayRule;
	  }
	| { kind: 'inactive'; days: number };

const list = (text: unknown) =>
	String(text ?? '')
		.split(',')
		.map((s) => s.trim())
		.filter(Boolean);

function readDefinition(ctx: ITriggerFunctions): Definition {
	const mode = ctx.getNodeParameter('mode') as string;
	switch (mode) {
		case 'eventRecorded': {
			const conditions = ((ctx.getNodeParameter('conditions', {}) as IDataObject).condition ??
				[]) as PropertyCondition[];
			return { kind: 'log', filter: { kind: 'event', names: list(ctx.getNodeParameter('eventNames')), conditions } };
		}
		case 'tagAdded':
		case 'tagRemoved':
			return { kind: 'log', filter: { kind: mode, tags: list(ctx.getNodeParameter('tags', '')) } };
		case 'fieldChanged': {
			const from = ctx.getNodeParameter('fromValue', '') as string;
			const to = ctx.getNodeParameter('toValue', '') as string;
			return {
				kind: 'log',
				filter: {
					kind: 'fieldChanged',
					field: ctx.getNodeParameter('field') as string,
					from: from === '' ? undefined : from,
					to: to === '' ? undefined : to,
				},
			};
		}
		case 'subscriptionChanged':
			return {
				kind: 'log',
				filter: { kind: 'subscriptionChanged', to: ctx.getNodeParameter('statuses', []) as string[] },
			};
		case 'gradeChanged':
			return { kind: 'log', filter: { kind: 'gradeChanged', to: list(ctx.getNodeParameter('grades', '')) } };
		case 'tierChanged':
			return { kind: 'log', filter: { kind: 'tierChanged', to: list(ctx.getNodeParameter('tiers', '')) } };
		case 'topicChanged':
			return {
				kind: 'log',
				filter: {
					kind: 'topicChanged',
					topics: list(ctx.getNodeParameter('topics', '')),
					to: list(ctx.getNodeParameter('topicState', '')),
				},
			};
		case 'dateReached':
			return {
				kind: 'date',
				field: ctx.getNodeParameter('dateField') as string,
				repeat: ctx.getNodeParameter('repeat') as 'yearly' | 'once',
				offsetDays: ctx.getNodeParameter('offsetDays') as number,
				hour: ctx.getNodeParameter('hour') as number,
				minute: ctx.getNodeParameter('minute') as number,
				fallbackZone: (ctx.getNodeParameter('fallbackTimezone', 'UTC') as string) || 'UTC',
				leapDay: ctx.getNodeParameter('leapDay', 'feb28') as LeapDayRule,
			};
		case 'inactive':
			return { kind: 'inactive', days: ctx.getNodeParameter('inactiveDays') as number };
	}
	throw new NodeOperationError(ctx.getNode(), `"${mode}" is not a trigger mode (parameter "mode")`);
}

function iso(ms: number): string {
	return new Date(ms).toISOString();
}

function logItem(
	event: LogEvent,
	contact: Contact | null | undefined,
	includeContact: boolean,
	maxAttempts: number,
): IDataObject {
	return {
		// A replayed dead letter keeps the id it was first delivered with (Send Campaign's reservations use it).
		event: {
			id: event.replayOf ?? event.id,
			name: event.name,
			time: iso(event.time),
			properties: event.properties as IDataObject,
			source: event.source,
		},
		contactId: event.contactId,
		...(includeContact ? { contact: (contact ?? null) as unknown as IDataObject } : {}),
		$chain: event.chain as unknown as IDataObject[],
		chainDepth: event.chain.length,
		delivery: { attempt: event.attempt, maxAttempts, replayed: event.replayOf !== undefined },
	};
}

function dueItem(due: DueContact, definition: Definition, now: number, includeContact: boolean): IDataObject {
	const event: IDataObject =
		definition.kind === 'date'
			? {
					name: '$date_reached',
					field: definition.field,
					occurrence: due.occurrence,
					dueAt: iso(due.dueAt),
					time: iso(now),
				}
			: {
					name: '$inactive',
					inactiveDays: (definition as { days: number }).days,
					lastActivityAt: due.contact.lastActivityAt ?? null,
					dueAt: iso(due.dueAt),
					time: iso(now),
				};
	return {
		event,
		contactId: due.contact.id,
		...(includeContact ? { contact: due.contact as unknown as IDataObject } : {}),
		$chain: [],
		chainDepth: 0,
	};
}

async function snapshots(store: ContactStore, ids: string[]): Promise<Map<string, Contact | null>> {
	const unique = [...new Set(ids)];
	const results = await store.contacts.get(unique);
	return new Map(unique.map((id, i) => [id, results[i].ok ? (results[i] as { value: Contact | null }).value : null]));
}

/** Starts the event consumer or the schedule runner; in manual mode, emits a sample (test step). */
export async function trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
	let definition: Definition;
	let filter: ((e: LogEvent) => boolean) | undefined;
	try {
		definition = readDefinition(this);
		if (definition.kind === 'log') filter = compileFilter(definition.filter);
	} catch (error) {
		const field = (error as ValidationError).field;
		throw new NodeOperationError(
			this.getNode(),
			`${(error as Error).message}${field ? ` (parameter "${field}")` : ''}`,
			{ description: (error as ValidationError).hint },
		);
	}
	const options = this.getNodeParameter('options', {}) as IDataObject;
	const includeContact = options.includeContact !== false;
	const batchSize = Math.max(1, Math.floor(Number(options.batchSize ?? 1)));
	const maxWaitMs = batchSize > 1 ? Math.max(0, Number(options.maxWaitMs ?? 500)) : 0;
	const startFrom = (options.startFrom as 'now' | 'catchUp') ?? 'now';
	const concurrency = Math.max(1, Math.floor(Number(options.concurrency ?? DEFAULT_CONCURRENCY)));
	const maxAttempts = Math.max(1, Math.floor(Number(options.maxAttempts ?? 5)));
	const handlerTimeoutMs = Math.max(1, Number(options.executionTimeout ?? 3600)) * 1000;
	const onGiveUp = options.onPermanentFailure === 'drop' ? 'drop' : 'deadLetter';
	// The node id survives renames; the workflow id separates copies of the workflow.
	const owner = `${this.getWorkflow().id ?? 'unsaved'}:${this.getNode().id}`;

	const lease = await leaseStore(this);
	const { store } = lease;
	let schedule: DateSchedule | InactivitySchedule | undefined;
	try {
		if (definition.kind === 'date') {
			const { field, fallbackZone, repeat, offsetDays, hour, minute, leapDay } = definition;
			schedule = new DateSchedule(store, definitionId(owner, definition), {
				field,
				fallbackZone,
				rule: { repeat, offsetDays, hour, minute, leapDay },
			});
		} else if (definition.kind === 'inactive') {
			schedule = new InactivitySchedule(store, definitionId(owner, definition), {
				inactiveMs: definition.days * DAY,
				startFrom,
			});
		}
	} catch (error) {
		lease.release();
		const field = (error as ValidationError).field;
		throw new NodeOperationError(
			this.getNode(),
			`${(error as Error).message}${field ? ` (parameter "${field}")` : ''}`,
		);
	}

	// Emits one execution and resolves when n8n reports it finished (then the entries are acknowledged).
	// n8n resolves the done promise for failed executions too, and in queue mode for one whose worker
	// died (n8n fails a stalled job, it does not run it again): those reject here, so their events are
	// retried, then moved to the dead letters (lib/triggers/consumer.ts). One n8n never reports (its
	// report lost with a killed worker) counts as failed after the Execution Timeout option.
	// An execution paused at a Wait node resolves as "waiting": the journey counts its contacts as
	// waiting at that node (lib/analytics), the others as exited.
	const emitAndWait = async (items: IDataObject[]): Promise<ExecutionEnd> => {
		const done = this.helpers.createDeferredPromise<IRun>();
		this.emit([this.helpers.returnJsonArray(items)], undefined, done);
		const run = await done.promise;
		if (run?.status === 'error' || run?.status === 'crashed') {
			const reason = run.data?.resultData?.error?.message ?? 'no error message';
			throw new NodeOperationError(this.getNode(), `an execution ended with status "${run.status}" (${reason})`);
		}
		const waitingAt = run?.status === 'waiting' ? run.data?.resultData?.lastNodeExecuted : undefined;
		return waitingAt ? { waitingAt } : {};
	};
	const logError = (error: Error) => this.logger.warn(`Contact Trigger "${this.getNode().name}": ${error.message}`);

	if (this.getMode() === 'manual') {
		const manualTriggerFunction = async () => {
			try {
				this.emit([
					this.helpers.returnJsonArray(
						await sample(this.getNode(), store, definition, filter, schedule, includeContact),
					),
				]);
			} finally {
				lease.release();
			}
		};
		return { manualTriggerFunction, closeFunction: async () => lease.release() };
	}

	let stop: () => Promise<void>;
	let drain: () => Promise<unknown> = async () => undefined;
	if (filter) {
		const consumer = new EventLogConsumer(store, {
			group: `ct:${owner}`,
			startFrom,
			skipBacklog: options.whileInactive === 'skip',
			filter,
			batchSize,
			maxWaitMs,
			concurrency,
			maxAttempts,
			handlerTimeoutMs,
			onGiveUp,
			label: `${this.getWorkflow().name ?? this.getWorkflow().id ?? 'unsaved'} / ${this.getNode().name}`,
			...(this.getWorkflow().id ? { journey: String(this.getWorkflow().id) } : {}),
			onError: logError,
			handler: async (events) => {
				const contacts = includeContact
					? await snapshots(
							store,
							events.map((e) => e.contactId),
						)
					: undefined;
				return emitAndWait(events.map((e) => logItem(e, contacts?.get(e.contactId), includeContact, maxAttempts)));
			},
		});
		await consumer.start().catch((error) => {
			lease.release();
			throw error;
		});
		stop = () => consumer.stop();
		drain = () => consumer.drain(10 * 60_000);
	} else {
		// A changed definition gets a new schedule; the one it replaces is deleted.
		await schedule!.adoptFor(owner).catch((error) => {
			lease.release();
			throw error;
		});
		const runner = new ScheduleRunner(store, schedule!, {
			batchSize,
			concurrency,
			handlerTimeoutMs,
			onError: logError,
			...(this.getWorkflow().id ? { journey: String(this.getWorkflow().id) } : {}),
			handler: async (due) => emitAndWait(due.map((d) => dueItem(d, definition, store.now(), includeContact))),
		});
		await runner.start().catch((error) => {
			lease.release();
			throw error;
		});
		stop = () => runner.stop();
		drain = () => runner.drain(10 * 60_000);
	}
	return {
		closeFunction: async () => {
			await stop();
			// Executions still running acknowledge their events when they finish; keep the connection until then.
			void drain().finally(() => lease.release());
		},
	};
}

/** What "test step" shows: the latest matching event, or a preview of the next scheduled contact. */
async function sample(
	node: INode,
	store: ContactStore,
	definition: Definition,
	filter: ((e: LogEvent) => boolean) | undefined,
	schedule: DateSchedule | InactivitySchedule | undefined,
	includeContact: boolean,
): Promise<IDataObject[]> {
	if (filter) {
		const [latest] = await latestMatching(store, filter);
		if (!latest) {
			throw new NodeOperationError(
				node,
				'No matching event in the recent event log. Record one (e.g. with the Contact node) and test again, or activate the workflow to wait for one.',
			);
		}
		const contacts = await snapshots(store, [latest.contactId]);
		return [logItem(latest, contacts.get(latest.contactId), includeContact, 1)];
	}
	const now = store.now();
	const candidate = await schedule?.preview();
	if (!candidate) {
		throw new NodeOperationError(
			node,
			definition.kind === 'date'
				? `No contact is scheduled yet for the date field "${definition.field}". Activate the workflow to build the schedule, and check that contacts have this field as a date.`
				: 'No contact has been inactive that long yet.',
		);
	}
	const contact = (await snapshots(store, [candidate.contactId])).get(candidate.contactId);
	if (!contact) throw new NodeOperationError(node, 'The scheduled contact no longer exists; test again.');
	const occurrence = definition.kind === 'inactive' ? String(Date.parse(contact.lastActivityAt ?? '0')) : 'preview';
	return [{ ...dueItem({ contact, occurrence, dueAt: candidate.at }, definition, now, includeContact), preview: true }];
}
