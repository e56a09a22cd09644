import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { SYSTEM_EVENTS, ValidationError, type ContactStore, type EventInput } from '../../../../lib';
import { chainOf, collect, perItem, runBatch } from '../../../shared/items';
import { readRef, relabel, resolveRefs, showFor } from '../../../shared/contact';

export const description: INodeProperties[] = [
	{
		displayName: 'Goal',
		name: 'goal',
		type: 'string',
		required: true,
		displayOptions: showFor(['event'], ['goalReached']),
		default: '',
		placeholder: 'e.g. purchased',
		description:
			'What the contact achieved that ends this journey. Recorded as the event "$goal_reached" with {workflow, workflowName, goal}.',
	},
];

/**
 * Records the system event `$goal_reached` {workflow, workflowName, goal} for existing contacts: the
 * only way a workflow writes it, so the "$" names stay closed to user events. Once per contact, goal
 * and execution (a retried node records nothing more).
 */
export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const workflow = this.getWorkflow();
	const workflowId = String(workflow.id ?? 'manual');
	const executionId = String(this.getExecutionId() ?? '');
	const inputs = perItem(this, (i) => {
		const goal = String(this.getNodeParameter('goal', i) ?? '').trim();
		if (goal === '') throw new ValidationError('Goal', 'Goal is empty', 'Name the goal, e.g. "purchased".');
		return { ref: readRef(this, i), goal };
	});
	const ids = await resolveRefs(
		store,
		inputs.map((input) => (input instanceof Error ? input : input.ref)),
	);
	const recorded = await runBatch(
		ids.map((r, i): EventInput | Error => {
			if (!r.ok) return r.error;
			const { goal } = inputs[i] as { goal: string };
			return {
				contactId: r.value,
				name: SYSTEM_EVENTS.goalReached,
				properties: { workflow: workflowId, workflowName: workflow.name ?? '', goal },
				source: 'n8n',
				idempotencyKey: `goal:${workflowId}:${goal}:${executionId}`.slice(0, 200),
				chain: chainOf(this, i),
				createContact: false,
				activity: false,
				journeyGoal: workflowId,
			};
		}),
		(valid) => store.events.recordSystem(valid),
	);
	return collect(this, relabel(recorded), (value, i) => ({
		contactId: value.contactId,
		event: SYSTEM_EVENTS.goalReached,
		goal: (inputs[i] as { goal: string }).goal,
		workflow: workflowId,
		eventId: value.eventId ?? null,
		duplicate: value.duplicate,
	}));
}
