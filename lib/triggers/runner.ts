import type { ContactStore } from '../store';
import { toStoreError } from '../redis/connection';
import { boundedCall, DEFAULT_CONCURRENCY, EventLogConsumer, type ExecutionEnd } from './consumer';
import { entryFields } from '../analytics';
import { DateSchedule, followerGroup, type DueContact, type DueSchedule } from './schedules';

export interface ScheduleRunnerOptions {
	/** How often due contacts are looked up (default 1000 ms). */
	tickMs?: number;
	/** How long a taken contact stays reserved for this runner; extended while its execution runs. */
	leaseMs?: number;
	/** Contacts per handler call (default 1). */
	batchSize?: number;
	/** Due contacts taken per shard and tick at most (default 100). */
	limitPerShard?: number;
	/** Handler calls (executions) running at once (default DEFAULT_CONCURRENCY); fewer contacts are taken while they run. */
	concurrency?: number;
	/** A handler call not settled after this long counts as failed: the contacts are due again (default: no limit). */
	handlerTimeoutMs?: number;
	/**
	 * The journey (workflow id) the trigger starts: each occurrence marked fired counts once as
	 * entered, and as exited, or waiting at the node the execution waits at (lib/analytics).
	 */
	journey?: string;
	/**
	 * Gets due contacts; they are marked fired when the promise resolves (the execution finished, or
	 * went to wait at `waitingAt`).
	 */
	handler: (due: DueContact[]) => Promise<void | ExecutionEnd>;
	onError?: (error: Error) => void;
}

/**
 * Runs a date or inactivity schedule: each tick takes what is due (leased, so two n8n mains never
 * fire the same contact), hands it to the handler, and records the occurrence once the handler's
 * execution finished. A date schedule also follows `$field_changed` events of its field and of the
 * time zone through its own consumer group, so changes made while n8n was down are applied on start.
 */
export class ScheduleRunner {
	private timer?: NodeJS.Timeout;
	private running = false;
	private ticking?: Promise<unknown>;
	/** Taken and leased: queued or being handled. */
	private readonly inFlight = new Set<DueContact>();
	private queue: DueContact[] = [];
	private calls = 0;
	private follower?: EventLogConsumer;
	private heartbeatTimer?: NodeJS.Timeout;
	/** Resolves when the schedule has been built (first activation) or found ready. */
	ready: Promise<void> = Promise.resolve();
	private readonly opts: Required<Omit<ScheduleRunnerOptions, 'onError' | 'journey' | 'handlerTimeoutMs'>> &
		Pick<ScheduleRunnerOptions, 'onError' | 'journey' | 'handlerTimeoutMs'>;

	constructor(
		private readonly store: ContactStore,
		readonly schedule: DueSchedule,
		options: ScheduleRunnerOptions,
	) {
		this.opts = {
			tickMs: 1000,
			leaseMs: 60_000,
			batchSize: 1,
			limitPerShard: 100,
			concurrency: DEFAULT_CONCURRENCY,
			...options,
		};
	}

	private report(error: unknown): void {
		this.opts.onError?.(toStoreError(error) as Error);
	}

	async start(): Promise<void> {
		const { schedule } = this;
		this.running = true;
		if (schedule instanceof DateSchedule) {
			this.follower = new EventLogConsumer(this.store, {
				group: followerGroup(schedule.id),
				startFrom: 'now',
				filter: (e) => schedule.affects(e),
				batchSize: 200,
				maxWaitMs: 20,
				handler: (events) => schedule.reschedule(events.map((e) => e.contactId)),
				// Internal: no dead letters for the user to handle; a change it could not apply after the
				// attempts is reported.
				onGiveUp: 'drop',
				onError: (e) => this.report(e),
			});
			// Follow changes first, then build the schedule from the current state: nothing falls in between.
			await this.follower.start();
		}
		// Building a new date schedule visits the base once: done in the background so that activating
		// the workflow does not wait for it; ticks meanwhile fire what is already scheduled.
		this.ready = schedule.prepare().catch((e) => this.report(e));
		this.heartbeatTimer = setInterval(
			() => {
				if (this.inFlight.size > 0)
					schedule.extendLease([...this.inFlight], this.opts.leaseMs).catch((e) => this.report(e));
			},
			Math.max(50, Math.floor(this.opts.leaseMs / 3)),
		);
		this.heartbeatTimer.unref();
		this.schedule_(0);
	}

	private schedule_(delay: number): void {
		if (!this.running) return;
		this.timer = setTimeout(() => {
			this.ticking = this.tick()
				.catch((e) => this.report(e))
				.finally(() => this.schedule_(this.opts.tickMs));
		}, delay);
	}

	/**
	 * One pass: takes what is due now, as much as there is room for (about 2 x concurrency x batch
	 * size taken at most, from whichever shards hold it, so a day with 100,000 birthdays fires at the
	 * pace the executions allow), and dispatches it. Returns how many contacts were taken.
	 */
	async tick(): Promise<number> {
		const { concurrency, batchSize, limitPerShard, leaseMs } = this.opts;
		const room = 2 * concurrency * batchSize - this.inFlight.size;
		if (room <= 0) return 0;
		const due = await this.schedule.takeDue(limitPerShard, leaseMs, room);
		for (const d of due) this.inFlight.add(d);
		this.queue.push(...due);
		this.pump();
		return due.length;
	}

	private pump(): void {
		while (this.running && this.calls < this.opts.concurrency && this.queue.length > 0)
			this.dispatch(this.queue.splice(0, this.opts.batchSize));
	}

	private dispatch(batch: DueContact[]): void {
		this.calls++;
		Promise.resolve()
			.then(() => boundedCall(() => this.opts.handler(batch), this.opts.handlerTimeoutMs))
			.finally(() => {
				this.calls--;
				this.pump();
			})
			.then((end) => {
				const { journey } = this.opts;
				return this.schedule.complete(batch, journey ? entryFields(journey, end?.waitingAt) : []);
			})
			// A failed execution is not marked: the lease runs out and the contact is due again.
			.catch((e) => this.report(e))
			.finally(() => {
				for (const d of batch) this.inFlight.delete(d);
			});
	}

	async stop(): Promise<void> {
		this.running = false;
		clearTimeout(this.timer);
		clearInterval(this.heartbeatTimer);
		await this.ticking?.catch(() => undefined);
		// Taken but not started: their leases run out and they are due again.
		for (const d of this.queue) this.inFlight.delete(d);
		this.queue = [];
		await this.ready;
		await this.follower?.stop();
	}

	/** Waits until the executions started so far have finished and been recorded. */
	async drain(timeoutMs = 30_000): Promise<boolean> {
		const deadline = Date.now() + timeoutMs;
		while (this.inFlight.size > 0) {
			if (Date.now() > deadline) return false;
			await new Promise((r) => setTimeout(r, 50));
		}
		return true;
	}

	get busy(): number {
		return this.inFlight.size;
	}
}
