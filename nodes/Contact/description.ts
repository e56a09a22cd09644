import type { INodeProperties } from 'n8n-workflow';
import * as contact from './actions/contact';
import * as deadLetter from './actions/deadLetter';
import * as event from './actions/event';
import * as inboundEmail from './actions/inboundEmail';
import * as journey from './actions/journey';
import * as sendPolicy from './actions/sendPolicy';
import * as subscription from './actions/subscription';
import * as tag from './actions/tag';
import * as topic from './actions/topic';

const resource: INodeProperties = {
	displayName: 'Resource',
	name: 'resource',
	type: 'options',
	noDataExpression: true,
	options: [
		{ name: 'Contact', value: 'contact' },
		{ name: 'Dead Letter', value: 'deadLetter' },
		{ name: 'Event', value: 'event' },
		{ name: 'Inbound Email', value: 'inboundEmail' },
		{ name: 'Journey', value: 'journey' },
		{ name: 'Subscription', value: 'subscription' },
		{ name: 'Tag', value: 'tag' },
		{ name: 'Topic', value: 'topic' },
		{ name: 'Workspace Policy', value: 'sendPolicy' },
	],
	default: 'contact',
};

/** The node's parameters: the resource, then each resource's operation and its operations' parameters. */
export const properties: INodeProperties[] = [
	resource,
	...contact.description,
	...event.description,
	...tag.description,
	...subscription.description,
	...inboundEmail.description,
	...deadLetter.description,
	...topic.description,
	...sendPolicy.description,
	...journey.description,
];
