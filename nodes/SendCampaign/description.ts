import type { INodeProperties } from 'n8n-workflow';
import { ROUTES } from '../../lib/tracking/routes';

/** Output indexes; a failed item goes to Skipped (routeResults): it was not sent. */
export const SENT = 0;
export const DEFERRED = 1;
export const SKIPPED = 2;

const send = { show: { operation: ['send'] } };

export const properties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		default: 'send',
		options: [
			{ name: 'Send', value: 'send', action: 'Send a campaign to a contact', description: 'Check, render, send and record the campaign for each incoming contact' },
			{ name: 'Get Report', value: 'report', action: 'Get a campaign report', description: 'Counts of sent, delivered, opened, clicked, bounced, complained and unsubscribed' },
		],
	},
	{
		displayName: 'Delivery',
		name: 'delivery',
		type: 'options',
		default: 'smtp',
		displayOptions: send,
		options: [
			{ name: 'Send over SMTP', value: 'smtp', description: 'Send with the Campaign SMTP credential' },
			{ name: 'Render Only', value: 'render', description: 'Output the finished message for another e-mail node; checks and recording stay the same' },
		],
	},
	{
		displayName: 'Identify Contact By',
		name: 'identifyBy',
		type: 'options',
		default: 'id',
		displayOptions: send,
		options: [
			{ name: 'Contact ID', value: 'id' },
			{ name: 'E-Mail', value: 'email' },
		],
	},
	{
		displayName: 'Contact ID',
		name: 'contactId',
		type: 'string',
		required: true,
		default: '={{ $json.contactId ?? $json.id }}',
		displayOptions: { show: { operation: ['send'], identifyBy: ['id'] } },
	},
	{
		displayName: 'E-Mail',
		name: 'email',
		type: 'string',
		placeholder: 'name@email.com',
		required: true,
		default: '={{ $json.email }}',
		displayOptions: { show: { operation: ['send'], identifyBy: ['email'] } },
	},
	{
		displayName: 'Campaign ID',
		name: 'campaignId',
		type: 'string',
		required: true,
		default: '',
		placeholder: 'spring-sale-2026',
		description: 'Stable name of the campaign: a contact gets each campaign once, and reports are per campaign',
	},
	{ displayName: 'Campaign Name', name: 'campaignName', type: 'string', default: '', displayOptions: send, description: 'Readable name, available as {{ campaign.name }}' },
	{ displayName: 'From E-Mail', name: 'fromEmail', type: 'string', placeholder: 'name@email.com', required: true, default: '', displayOptions: send },
	{ displayName: 'From Name', name: 'fromName', type: 'string', default: '', displayOptions: send },
	{
		displayName: 'Subject',
		name: 'subject',
		type: 'string',
		required: true,
		default: '',
		placeholder: 'Hi {{ firstName | "there" }}, our spring sale starts today',
		displayOptions: send,
		description: 'Merge fields: {{ field }} (required) or {{ field | "fallback" }}. Leave the parameter in Fixed mode so n8n does not read the braces as an expression.',
	},
	{ displayName: 'Preheader', name: 'preheader', type: 'string', default: '', displayOptions: send, description: 'Preview text shown after the subject in most inboxes' },
	{
		displayName: 'HTML',
		name: 'html',
		type: 'string',
		typeOptions: { rows: 10 },
		required: true,
		default: '',
		displayOptions: send,
		description: 'Body with merge fields (values are HTML-escaped). {{ unsubscribeUrl }} is the signed unsubscribe link.',
	},
	{ displayName: 'Text', name: 'text', type: 'string', typeOptions: { rows: 5 }, default: '', displayOptions: send, description: 'Plain-text part; derived from the HTML when empty' },
	{
		displayName: 'Tracking Base URL',
		name: 'trackingBaseUrl',
		type: 'string',
		default: '',
		placeholder: 'https://n8n.example.com/webhook/1f2e.../marketing',
		displayOptions: send,
		description:
			`Production URL of your Marketing Webhook Trigger (without /${ROUTES.events.path}). Needed for the List-Unsubscribe link of every marketing mail and for open and click tracking.`,
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: send,
		options: [
			{ displayName: 'Allow Resend', name: 'allowResend', type: 'boolean', default: false, description: 'Whether a contact that already got this campaign may get it again' },
			{
				displayName: 'Fallback Time Zone',
				name: 'fallbackTimeZone',
				type: 'string',
				default: 'UTC',
				description: 'Time zone of the send window for contacts without one (IANA name such as Europe/Berlin)',
			},
			{ displayName: 'Frequency Cap (Mails)', name: 'capMax', type: 'number', default: 0, typeOptions: { minValue: 0 }, description: 'At most this many marketing mails per contact in the cap window; 0 for no cap' },
			{ displayName: 'Frequency Cap Window (Days)', name: 'capDays', type: 'number', default: 7, typeOptions: { minValue: 0.01 }, description: 'Length of the rolling cap window' },
			{ displayName: 'Merge Data', name: 'mergeData', type: 'json', default: '{}', description: 'Extra values for this item, read as {{ data.name }}' },
			{ displayName: 'Reply-To', name: 'replyTo', type: 'string', placeholder: 'name@email.com', default: '' },
			{ displayName: 'Require Consent', name: 'requireConsent', type: 'boolean', default: false, description: 'Whether to send only to contacts whose status is "subscribed" (confirmed opt-in)' },
			{ displayName: 'Retry After 4xx (Minutes)', name: 'retryMinutes', type: 'number', default: 15, typeOptions: { minValue: 1 }, description: 'When the SMTP server answers "try later", the item leaves on Deferred with this delay' },
			{ displayName: 'Send Window End Hour', name: 'windowEnd', type: 'number', default: 18, typeOptions: { minValue: 0, maxValue: 24 }, description: 'Local hour at which the window closes (exclusive)' },
			{ displayName: 'Send Window Start Hour', name: 'windowStart', type: 'number', default: 9, typeOptions: { minValue: 0, maxValue: 24 }, description: 'Local hour at which the window opens; used when Use Send Window is on' },
			{
				displayName: 'Send Window Weekdays',
				name: 'windowDays',
				type: 'multiOptions',
				default: [1, 2, 3, 4, 5],
				options: [
					{ name: 'Monday', value: 1 },
					{ name: 'Tuesday', value: 2 },
					{ name: 'Wednesday', value: 3 },
					{ name: 'Thursday', value: 4 },
					{ name: 'Friday', value: 5 },
					{ name: 'Saturday', value: 6 },
					{ name: 'Sunday', value: 7 },
				],
			},
			{ displayName: 'Track Clicks', name: 'trackClicks', type: 'boolean', default: false, description: 'Whether to route links through signed redirects of the tracking trigger' },
			{ displayName: 'Track Opens', name: 'trackOpens', type: 'boolean', default: false, description: 'Whether to add a 1x1 open pixel' },
			{
				displayName: 'Transactional',
				name: 'transactional',
				type: 'boolean',
				default: false,
				description: 'Whether this is a receipt or account mail: sent whatever the subscription status and consent, not capped nor counted by caps',
			},
			{ displayName: 'Unsubscribe Mailto', name: 'unsubscribeMailto', type: 'string', placeholder: 'name@email.com', default: '', description: 'Address added as the mailto: alternative of List-Unsubscribe' },
			{ displayName: 'Use Send Window', name: 'useWindow', type: 'boolean', default: false, description: "Whether to send only inside a daily window in the contact's time zone; other items leave on Deferred" },
		],
	},
];
