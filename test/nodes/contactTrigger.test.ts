/**
 * The Contact Trigger's trigger() run inside n8n-core's real TriggerContext (parameters with defaults
 * filled by n8n-workflow's Workflow, credentials through the context, helpers.createDeferredPromise,
 * returnJsonArray, emit with a done promise). What n8n itself adds in production (ActiveWorkflows
 * starting trigger(), resolving the done promise when the execution finished) is simulated by the
 * `emit` given to the context: each emitted execution is recorded and finished by the test.
 * Delivery guarantees under crashes and reclaim are tested on the lib (test/lib/triggers*.test.ts).
 */
import { randomUUID } from 'crypto';
import { TriggerContext } from 'n8n-core';
import {
	Workflow,
	type IDataObject,
	type INode,
	type INodeExecutionData,
	type INodeParameters,
	type INodeType,
	type INodeTypes,
	type IRun,
	type ITriggerResponse,
	type ITriggerFunctions,
	type IWorkflowExecuteAdditionalData,
} from 'n8n-workflow';

/** The done promise n8n passes to emit (its type lives in an internal @n8n package). */
type DonePromise = Parameters<ITriggerFunctions['emit']>[2];
import { closeAllStores, acquireStore } from '../../lib/redis/pool';
import { ContactTrigger } from '../../nodes/ContactTrigger/ContactTrigger.node';
import { LoopGuard } from '../../nodes/LoopGuard/LoopGuard.node';
import { DateSchedule, DeadLetters, definitionId } from '../../lib/triggers';
import { Topics } from '../../lib/topics';
import { Analytics } from '../../lib/analytics';
import { contactStoreCredentials, runWorkflow, TestCredentialsHelper, type CredentialsByType } from '../harness/n8n';
import { topologies } from '../harness/store';
import { storeConfigFrom } from '../../nodes/shared/store';

afterAll(() => closeAllStores());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error('timed out waiting');
		await sleep(10);
	}
}

interface Execution {
	items: IDataObject[];
	done?: DonePromise;
}

interface Activation {
	response: ITriggerResponse;
	executions: Execution[];
	/** Finishes every execution emitted so far (n8n resolving the done promise). */
	finishAll(): void;
}

const nodeTypes = (type: INodeType): INodeTypes => ({
	getByName: () => type,
	getByNameAndVersion: () => type,
	getKnownTypes: () => ({}),
});

async function activate(
	parameters: INodeParameters,
	credentials: CredentialsByType,
	opts: { workflowId?: string; mode?: 'trigger' | 'manual'; nodeId?: string } = {},
): Promise<Activation> {
	const type = new ContactTrigger();
	const node: INode = {
		id: opts.nodeId ?? 'trigger-node',
		name: 'Contact Trigger',
		type: 'test.contactTrigger',
		typeVersion: 1,
		position: [0, 0],
		parameters,
		credentials: { contactStoreApi: { id: 'cred', name: 'Contact Store' } },
	};
	const workflow = new Workflow({
		id: opts.workflowId ?? 'wf-trigger',
		name: 'Trigger test',
		nodes: [node],
		connections: {},
		active: true,
		nodeTypes: nodeTypes(type),
	});
	const additionalData = {
		credentialsHelper: new TestCredentialsHelper(credentials),
		variables: {},
	} as unknown as IWorkflowExecuteAdditionalData;
	const executions: Execution[] = [];
	const emit: ITriggerFunctions['emit'] = (data: INodeExecutionData[][], _response, done) => {
		executions.push({ items: data[0].map((i) => i.json), done });
	};
	const mode = opts.mode ?? 'trigger';
	const ctx = new TriggerContext(
		workflow,
		workflow.getNode('Contact Trigger')!,
		additionalData,
		mode,
		mode === 'manual' ? 'manual' : 'activate',
		emit,
		(error: Error) => {
			throw error;
		},
	);
	const response = await type.trigger!.call(ctx);
	return {
		response,
		executions,
		finishAll: () => executions.forEach((e) => e.done?.resolve({} as IRun)),
	};
}

describe.each(topologies)('Contact Trigger node (n8n TriggerContext) on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology, `ctn${randomUUID().slice(0, 6)}:`);
	const { store, release } = acquireStore(storeConfigFrom(credentials.contactStoreApi));
	afterAll(() => release());
	const active: Activation[] = [];
	afterEach(async () => {
		for (const a of active.splice(0)) {
			a.finishAll();
			await a.response.closeFunction?.();
		}
	});
	const start = async (...args: Parameters<typeof activate>) => {
		const a = await activate(...args);
		active.push(a);
		return a;
	};

	it('emits a recorded event with the event, a contact snapshot and $chain; acknowledges when the execution finished', async () => {
		const a = await start({ mode: 'eventRecorded', eventNames: 'welcome_*' }, credentials);
		await store.contacts.upsert([{ id: 'ada', email: 'ada@example.com', addTags: ['lead'] }]);
		await store.events.record([
			{
				contactId: 'ada',
				name: 'welcome_signup',
				properties: { list: 'news' },
				chain: [{ workflowId: 'wf-X', executionId: '77' }],
			},
		]);
		await store.events.record([{ contactId: 'ada', name: 'other' }]);
		// Latency is the trigger bench's to measure (p50/p99), not a test's.
		await until(() => a.executions.length === 1);
		const [item] = a.executions[0].items;
		expect(item).toMatchObject({
			event: { name: 'welcome_signup', properties: { list: 'news' }, source: 'api' },
			contactId: 'ada',
			contact: { id: 'ada', email: 'ada@example.com', tags: ['lead'] },
			$chain: [{ workflowId: 'wf-X', executionId: '77' }],
			chainDepth: 1,
		});
		const logKey = store.keys.log(store.keys.shardOfContact('ada'));
		const group = 'ct:wf-trigger:trigger-node';
		const pending = async () => ((await store.redis.xpending(logKey, group)) as [number])[0];
		// The non-matching event is acknowledged at once; the matching one stays pending while its execution runs.
		for (let i = 0; i < 100 && (await pending()) !== 1; i++) await sleep(10);
		await sleep(100);
		expect(await pending()).toBe(1);
		a.finishAll();
		await until(() => true);
		await sleep(50);
		expect(((await store.redis.xpending(logKey, group)) as [number])[0]).toBe(0);
		await sleep(200);
		expect(a.executions).toHaveLength(1);
	});

	it('topic subscription changed: fires on $topic_changed of the chosen topics and state only', async () => {
		const a = await start({ mode: 'topicChanged', topics: 'offers', topicState: 'unsubscribed' }, credentials);
		const topics = new Topics(store);
		await topics.declare([{ name: 'offers' }, { name: 'news' }]);
		await store.contacts.upsert([{ id: 'tia', email: 'tia@example.com' }]);
		await topics.set([{ contactId: 'tia', subscribe: ['offers', 'news'] }]);
		await topics.set([{ contactId: 'tia', unsubscribe: ['news'] }]);
		await topics.set([{ contactId: 'tia', unsubscribe: ['offers'] }]);
		await until(() => a.executions.length === 1);
		expect(a.executions[0].items[0]).toMatchObject({
			contactId: 'tia',
			event: { name: '$topic_changed', properties: { topic: 'offers', from: 'subscribed', to: 'unsubscribed' } },
		});
		a.finishAll();
		await sleep(200);
		expect(a.executions).toHaveLength(1);
	});

	it('an execution that failed or crashed (a queue-mode worker killed) is retried after a back-off, its attempt in the item', async () => {
		const a = await start({ mode: 'eventRecorded', eventNames: 'retry_me' }, credentials, { workflowId: 'wf-retry' });
		await store.contacts.upsert([{ id: 'bo', email: 'bo@example.com' }]);
		await store.events.record([{ contactId: 'bo', name: 'retry_me' }]);
		await until(() => a.executions.length === 1, 2000);
		expect(a.executions[0].items[0]).toMatchObject({ delivery: { attempt: 1, maxAttempts: 5, replayed: false } });
		const logKey = store.keys.log(store.keys.shardOfContact('bo'));
		const group = 'ct:wf-retry:trigger-node';
		const pending = async () => ((await store.redis.xpending(logKey, group)) as [number])[0];
		// What n8n 2.41 hands the done promise for a job whose worker died: a run with status error.
		a.executions[0].done!.resolve({
			status: 'error',
			data: { resultData: { error: { message: 'job stalled more than maxStalledCount' } } },
		} as unknown as IRun);
		await sleep(200);
		expect(await pending()).toBe(1);
		// Delivered again after the first back-off (2 s).
		await until(() => a.executions.length === 2, 25_000);
		expect(a.executions[1].items[0]).toMatchObject({
			event: { name: 'retry_me' },
			contactId: 'bo',
			delivery: { attempt: 2 },
		});
		expect(a.executions[1].items[0].event).toEqual(a.executions[0].items[0].event);
		a.executions[1].done!.resolve({ status: 'success' } as IRun);
		for (let i = 0; i < 100 && (await pending()) !== 0; i++) await sleep(20);
		expect(await pending()).toBe(0);
	});

	it('an execution n8n never reports (a lost queue-mode job) counts as failed after Execution Timeout: delivered again', async () => {
		const a = await start(
			{ mode: 'eventRecorded', eventNames: 'lost_report', options: { executionTimeout: 1 } },
			credentials,
			{ workflowId: 'wf-lost' },
		);
		await store.events.record([{ contactId: 'di', name: 'lost_report' }]);
		await until(() => a.executions.length === 1, 2000);
		// The first done promise is never settled. Timeout 1 s, then the first back-off (2 s).
		await until(() => a.executions.length === 2, 10_000);
		expect(a.executions[1].items[0]).toMatchObject({ contactId: 'di', delivery: { attempt: 2 } });
		a.executions[1].done!.resolve({ status: 'success' } as IRun);
		const logKey = store.keys.log(store.keys.shardOfContact('di'));
		const pending = async () => ((await store.redis.xpending(logKey, 'ct:wf-lost:trigger-node')) as [number])[0];
		for (let i = 0; i < 100 && (await pending()) !== 0; i++) await sleep(20);
		expect(await pending()).toBe(0);
	});

	it('Max Attempts 1: a failed execution moves its event to the dead letters; Drop keeps none', async () => {
		const dead = await start(
			{ mode: 'eventRecorded', eventNames: 'dead_one', options: { maxAttempts: 1 } },
			credentials,
			{ workflowId: 'wf-dead' },
		);
		const drop = await start(
			{ mode: 'eventRecorded', eventNames: 'dead_one', options: { maxAttempts: 1, onPermanentFailure: 'drop' } },
			credentials,
			{ workflowId: 'wf-drop' },
		);
		await store.events.record([{ contactId: 'cy', name: 'dead_one' }]);
		await until(() => dead.executions.length === 1 && drop.executions.length === 1, 5000);
		for (const x of [dead, drop])
			x.executions[0].done!.resolve({
				status: 'error',
				data: { resultData: { error: { message: 'bad template' } } },
			} as unknown as IRun);
		const letters = new DeadLetters(store, 'ct:wf-dead:trigger-node');
		for (let i = 0; i < 200 && (await letters.count()) === 0; i++) await sleep(20);
		expect(await letters.list(5)).toMatchObject([
			{ attempts: 1, reason: expect.stringContaining('bad template'), event: { contactId: 'cy' } },
		]);
		expect((await DeadLetters.triggers(store)).find((t) => t.trigger === 'ct:wf-dead:trigger-node')?.label).toBe(
			'Trigger test / Contact Trigger',
		);
		await sleep(300);
		expect(await new DeadLetters(store, 'ct:wf-drop:trigger-node').count()).toBe(0);
	});

	it('two activations of one workflow (two n8n mains) run once per event; events while deactivated arrive on reactivation', async () => {
		const params = { mode: 'tagAdded', tags: 'vip' };
		const opts = { workflowId: 'wf-multi' };
		const a = await start(params, credentials, opts);
		const b = await start(params, credentials, opts);
		const finishing = setInterval(() => [a, b].forEach((x) => x.finishAll()), 20);
		try {
			await store.contacts.upsert(Array.from({ length: 40 }, (_, i) => ({ id: `m-${i}`, addTags: ['vip'] })));
			await until(() => a.executions.length + b.executions.length >= 40);
			await sleep(200);
			const ids = [...a.executions, ...b.executions].map((e) => e.items[0].contactId);
			expect(ids).toHaveLength(40);
			expect(new Set(ids).size).toBe(40);
			// Both go away (workflow deactivated / n8n down), tags keep coming.
			for (const x of active.splice(0)) await x.response.closeFunction?.();
			await store.contacts.upsert([
				{ id: 'late-1', addTags: ['vip'] },
				{ id: 'late-2', addTags: ['vip'] },
			]);
			const c = await start(params, credentials, opts);
			await until(() => c.executions.length === 2);
			expect(c.executions.map((e) => e.items[0].contactId).sort()).toEqual(['late-1', 'late-2']);
		} finally {
			clearInterval(finishing);
		}
	});

	it('batches: up to N items per execution', async () => {
		const a = await start(
			{ mode: 'fieldChanged', field: 'plan', toValue: 'pro', options: { batchSize: 5, maxWaitMs: 300 } },
			credentials,
		);
		await store.contacts.upsert(Array.from({ length: 5 }, (_, i) => ({ id: `bt-${i}`, fields: { plan: 'pro' } })));
		await store.contacts.upsert([{ id: 'bt-x', fields: { plan: 'free' } }]);
		await until(() => a.executions.length === 1);
		expect(a.executions[0].items.map((i) => i.contactId).sort()).toEqual(['bt-0', 'bt-1', 'bt-2', 'bt-3', 'bt-4']);
		// New contacts: the field-changed filter matches the one $contact_created naming the field.
		expect(a.executions[0].items[0].event).toMatchObject({
			name: '$contact_created',
			properties: { fields: { plan: 'pro' } },
		});
	});

	it('inactive for N days: catch-up fires for contacts already inactive', async () => {
		await store.events.record([{ contactId: 'sleepy', name: 'login', time: Date.now() - 3 * 86_400_000 }]);
		const a = await start({ mode: 'inactive', inactiveDays: 2, options: { startFrom: 'catchUp' } }, credentials);
		await until(() => a.executions.some((e) => e.items.some((i) => i.contactId === 'sleepy')), 3000);
		const item = a.executions.flatMap((e) => e.items).find((i) => i.contactId === 'sleepy')!;
		expect(item.event).toMatchObject({ name: '$inactive', inactiveDays: 2 });
		expect(item.chainDepth).toBe(0);
	});

	it("date reached: activation builds the schedule in the contact's zone; test step previews the next contact", async () => {
		await store.contacts.upsert([
			{ id: 'bday-kiri', timezone: 'Pacific/Kiritimati', fields: { bday: { value: '1990-03-11', type: 'date' } } },
		]);
		const params = {
			mode: 'dateReached',
			dateField: 'bday',
			repeat: 'yearly',
			offsetDays: 0,
			hour: 9,
			minute: 0,
			fallbackTimezone: 'Europe/Berlin',
		};
		await start(params, credentials, { workflowId: 'wf-date' });
		const definition = {
			kind: 'date',
			field: 'bday',
			repeat: 'yearly',
			offsetDays: 0,
			hour: 9,
			minute: 0,
			fallbackZone: 'Europe/Berlin',
			leapDay: 'feb28',
		};
		const schedule = new DateSchedule(store, definitionId('wf-date:trigger-node', definition), {
			field: 'bday',
			rule: { repeat: 'yearly', offsetDays: 0, hour: 9, minute: 0 },
		});
		// The schedule is built in the background after activation.
		for (let i = 0; i < 200 && (await schedule.upcoming(1)).length === 0; i++) await sleep(10);
		const [next] = await schedule.upcoming(1);
		expect(next.contactId).toBe('bday-kiri');
		// 09:00 on Mar 11 in Kiritimati (UTC+14) is 19:00 UTC on Mar 10.
		expect(new Date(next.at).toISOString()).toMatch(/-03-10T19:00:00.000Z$/);
		const manual = await start(params, credentials, { workflowId: 'wf-date', mode: 'manual' });
		await manual.response.manualTriggerFunction!();
		expect(manual.executions[0].items[0]).toMatchObject({
			preview: true,
			contactId: 'bday-kiri',
			event: { name: '$date_reached', field: 'bday' },
		});
	});

	it('date reached: a due contact starts one execution, is marked fired for this year when it finished, and enters the journey once', async () => {
		const today = new Date();
		const birthday = `1992-${String(today.getUTCMonth() + 1).padStart(2, '0')}-${String(today.getUTCDate()).padStart(2, '0')}`;
		await store.contacts.upsert([{ id: 'bday-now', fields: { bday3: { value: birthday, type: 'date' } } }]);
		const params = {
			mode: 'dateReached',
			dateField: 'bday3',
			repeat: 'yearly',
			offsetDays: 0,
			hour: 0,
			minute: 0,
			fallbackTimezone: 'UTC',
		};
		const a = await start(params, credentials, { workflowId: 'wf-date-fire' });
		const definition = {
			kind: 'date',
			field: 'bday3',
			repeat: 'yearly',
			offsetDays: 0,
			hour: 0,
			minute: 0,
			fallbackZone: 'UTC',
			leapDay: 'feb28',
		};
		const schedule = new DateSchedule(store, definitionId('wf-date-fire:trigger-node', definition), {
			field: 'bday3',
			rule: { repeat: 'yearly', offsetDays: 0, hour: 0, minute: 0 },
		});
		// Today's 00:00 UTC has passed, so activation scheduled next year's; pretend that time has come.
		for (let i = 0; i < 200 && (await schedule.upcoming(1)).length === 0; i++) await sleep(10);
		const [scheduled] = await schedule.upcoming(1);
		expect(new Date(scheduled.at).getUTCFullYear()).toBe(today.getUTCFullYear() + 1);
		await store.redis.zadd(schedule.dueKey(store.keys.shardOfContact('bday-now')), Date.now() - 1000, 'bday-now');
		await until(() => a.executions.length === 1, 3000);
		expect(a.executions[0].items[0]).toMatchObject({
			contactId: 'bday-now',
			event: { name: '$date_reached', field: 'bday3', occurrence: String(today.getUTCFullYear()) },
			chainDepth: 0,
		});
		// The execution went to wait at a Wait node: the journey counts the contact waiting there.
		a.executions[0].done!.resolve({
			status: 'waiting',
			data: { resultData: { lastNodeExecuted: 'Wait for the party' } },
		} as IRun);
		const deadline = Date.now() + 3000;
		while ((await schedule.upcoming(1))[0]?.at !== scheduled.at && Date.now() < deadline) await sleep(20);
		expect((await schedule.upcoming(1))[0]).toEqual(scheduled);
		expect(await store.redis.hget(`${store.keys.contact('bday-now')}:tf`, schedule.id)).toBe(
			String(today.getUTCFullYear()),
		);
		await sleep(1200);
		expect(a.executions).toHaveLength(1);
		const range = { from: today.toISOString().slice(0, 10), to: new Date().toISOString().slice(0, 10) };
		const [journey] = (await new Analytics(store).report({ ...range, journeys: ['wf-date-fire'] })).journeys;
		expect(journey.totals).toMatchObject({ entered: 1, waiting: 1, exited: 0 });
		expect(journey.waitingAt).toEqual([{ step: 'Wait for the party', count: 1 }]);
	});

	it('test step returns the latest matching event, or says clearly that there is none', async () => {
		await store.events.record([{ contactId: 'pick', name: 'demo_booked', properties: { n: 1 } }]);
		await store.events.record([{ contactId: 'pick', name: 'demo_booked', properties: { n: 2 } }]);
		const manual = await start({ mode: 'eventRecorded', eventNames: 'demo_booked' }, credentials, { mode: 'manual' });
		await manual.response.manualTriggerFunction!();
		expect(manual.executions[0].items[0]).toMatchObject({
			event: { name: 'demo_booked', properties: { n: 2 } },
			contact: { id: 'pick' },
		});
		const none = await start({ mode: 'eventRecorded', eventNames: 'never_happened' }, credentials, { mode: 'manual' });
		await expect(none.response.manualTriggerFunction!()).rejects.toThrow(/No matching event in the recent event log/);
	});

	it.each([
		[{ mode: 'eventRecorded', eventNames: ' , ' }, /Name at least one event \(parameter "eventNames"\)/],
		[
			{
				mode: 'eventRecorded',
				eventNames: 'x',
				conditions: { condition: [{ path: 'a', operator: 'greaterThan', value: 'abc' }] },
			},
			/parameter "conditions\[0\]\.value"/,
		],
		[{ mode: 'dateReached', dateField: 'b', hour: 9, fallbackTimezone: 'Mars/Base' }, /parameter "fallbackZone"/],
		[{ mode: 'dateReached', dateField: 'b', offsetDays: 2.5 }, /parameter "offsetDays"/],
		[{ mode: 'inactive', inactiveDays: 0 }, /parameter "inactiveDays"/],
	])('refuses to activate with %p, naming the parameter', async (parameters, message) => {
		await expect(activate(parameters as INodeParameters, credentials)).rejects.toThrow(message);
	});

	it("the emitted item's $chain feeds Loop Guard, which blocks the cycle in the same workflow", async () => {
		const a = await start({ mode: 'eventRecorded', eventNames: 'bounce_back' }, credentials, { workflowId: 'wf-loop' });
		await store.events.record([
			{
				contactId: 'looper',
				name: 'bounce_back',
				chain: [
					{ workflowId: 'wf-loop', executionId: '1' },
					{ workflowId: 'wf-other', executionId: '2' },
				],
			},
		]);
		await until(() => a.executions.length === 1);
		const run = await runWorkflow({
			nodes: [
				{
					name: 'Guard',
					nodeType: new LoopGuard(),
					parameters: { keyType: 'contact', scope: 'workflow', maxEntries: 0 },
				},
			],
			items: a.executions[0].items,
			credentials,
			workflowId: 'wf-loop',
		});
		const [pass, blocked] = run.output('Guard');
		expect(pass).toHaveLength(0);
		expect(blocked[0].json.loopGuard).toMatchObject({ reason: 'cycle', depth: 2 });
	});
});
