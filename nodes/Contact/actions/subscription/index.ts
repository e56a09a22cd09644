import type { INodeProperties } from 'n8n-workflow';
import * as getStatus from './getStatus.operation';
import * as subscribe from './subscribe.operation';
import * as unsubscribe from './unsubscribe.operation';
import { identifyProperties, showFor } from '../../../shared/contact';

export { getStatus, subscribe, unsubscribe };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['subscription']),
		options: [
			{
				name: 'Get Status',
				value: 'getStatus',
				description: 'Get the subscription status and consent of a contact',
				action: 'Get the subscription status of a contact',
			},
			{
				name: 'Subscribe',
				value: 'subscribe',
				description: 'Record consent to receive marketing e-mail',
				action: 'Subscribe a contact',
			},
			{
				name: 'Unsubscribe',
				value: 'unsubscribe',
				description: 'Stop marketing e-mail to a contact',
				action: 'Unsubscribe a contact',
			},
		],
		default: 'subscribe',
	},
	...identifyProperties(['subscription']),
	{
		displayName: 'Consent Source',
		name: 'consentSource',
		type: 'string',
		required: true,
		displayOptions: showFor(['subscription'], ['subscribe', 'unsubscribe']),
		default: 'n8n',
		placeholder: 'e.g. signup form',
		description: 'Where the consent (or its withdrawal) comes from; kept as proof with the time',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: showFor(['subscription'], ['subscribe', 'unsubscribe']),
		default: {},
		options: [
			{
				displayName: 'Consent Time',
				name: 'consentAt',
				type: 'dateTime',
				default: '',
				description: 'When consent was given or withdrawn; defaults to now',
			},
			{
				displayName: 'Create Contact If Missing',
				name: 'createContact',
				type: 'boolean',
				default: true,
				description:
					'Whether to create the contact when it does not exist (an unsubscribed contact stays suppressed when imported later)',
			},
			{
				displayName: 'Pending Double Opt-In',
				name: 'pending',
				type: 'boolean',
				default: false,
				displayOptions: { show: { '/operation': ['subscribe'] } },
				description: 'Whether to set the status to pending until the contact confirms, instead of subscribed',
			},
		],
	},
	...getStatus.description,
	...subscribe.description,
	...unsubscribe.description,
];
