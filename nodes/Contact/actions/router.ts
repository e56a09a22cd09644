import { NodeOperationError, type IExecuteFunctions, type INodeExecutionData } from 'n8n-workflow';
import type { ContactStore } from '../../../lib';
import type { OperationExecute } from '../../shared/contact';
import * as contact from './contact';
import * as deadLetter from './deadLetter';
import * as event from './event';
import * as inboundEmail from './inboundEmail';
import * as journey from './journey';
import * as sendPolicy from './sendPolicy';
import * as subscription from './subscription';
import * as tag from './tag';
import * as topic from './topic';

const OPERATIONS: Record<string, Record<string, { execute: OperationExecute }>> = {
	contact: { upsert: contact.upsert, get: contact.get, erase: contact.erase, export: contact.exportContact },
	event: { record: event.record, goalReached: event.goalReached },
	tag: { add: tag.add, remove: tag.remove },
	subscription: {
		subscribe: subscription.subscribe,
		unsubscribe: subscription.unsubscribe,
		getStatus: subscription.getStatus,
	},
	inboundEmail: { parse: inboundEmail.parse },
	deadLetter: { list: deadLetter.list, replay: deadLetter.replay, purge: deadLetter.purge },
	topic: { declare: topic.declare, list: topic.list, delete: topic.remove, setContact: topic.setContact },
	sendPolicy: { get: sendPolicy.get, set: sendPolicy.set },
	journey: { report: journey.report },
};

/** Runs the chosen operation on every input item (one batch). */
export async function router(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const resource = this.getNodeParameter('resource', 0) as string;
	const operation = this.getNodeParameter('operation', 0) as string;
	const chosen = OPERATIONS[resource]?.[operation];
	if (!chosen)
		throw new NodeOperationError(this.getNode(), `The operation "${operation}" is not supported for "${resource}"`, {
			itemIndex: 0,
		});
	return chosen.execute.call(this, store);
}
