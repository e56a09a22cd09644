import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { SendPolicies, type ContactStore, type Result, type SendPolicy } from '../../../../lib';
import { relabel, showFor } from '../../../shared/contact';
import { collect, perItem } from '../../../shared/items';

const DAY = 86_400_000;
const onSet = showFor(['sendPolicy'], ['set']);

export const description: INodeProperties[] = [
	{
		displayName: 'Consent Rule',
		name: 'consent',
		type: 'options',
		displayOptions: onSet,
		options: [
			{
				name: 'Double Opt-In',
				value: 'doubleOptIn',
				description: 'Marketing mail only to confirmed ("subscribed") contacts; pending and unknown get none',
			},
			{
				name: 'Single Opt-In',
				value: 'singleOptIn',
				description: 'Marketing mail to every contact that has not unsubscribed, bounced or complained',
			},
		],
		default: 'doubleOptIn',
		description: 'Transactional mail is exempt from the consent rule',
	},
	{
		displayName: 'Quiet Hours',
		name: 'useQuietHours',
		type: 'boolean',
		displayOptions: onSet,
		default: true,
		description: "Whether to hold marketing mail during the night in the contact's time zone",
	},
	{
		displayName: 'Quiet Hours Start',
		name: 'quietStart',
		type: 'number',
		typeOptions: { minValue: 0, maxValue: 23 },
		displayOptions: { show: { ...onSet.show, useQuietHours: [true] } },
		default: 21,
		description: 'Local hour (0-23) from which no marketing mail goes out',
	},
	{
		displayName: 'Quiet Hours End',
		name: 'quietEnd',
		type: 'number',
		typeOptions: { minValue: 0, maxValue: 23 },
		displayOptions: { show: { ...onSet.show, useQuietHours: [true] } },
		default: 8,
		description: 'Local hour (0-23) at which marketing mail may go out again',
	},
	{
		displayName: 'Fallback Time Zone',
		name: 'fallbackTimeZone',
		type: 'string',
		displayOptions: { show: { ...onSet.show, useQuietHours: [true] } },
		default: 'UTC',
		placeholder: 'e.g. Europe/Berlin',
		description: 'IANA time zone of the quiet hours for contacts without one',
	},
	{
		displayName: 'Frequency Cap (Mails)',
		name: 'capMax',
		type: 'number',
		typeOptions: { minValue: 0 },
		displayOptions: onSet,
		default: 0,
		description:
			'At most this many marketing mails per contact in the cap window, all campaigns together; 0 for no cap',
	},
	{
		displayName: 'Frequency Cap Window (Days)',
		name: 'capDays',
		type: 'number',
		typeOptions: { minValue: 0.01 },
		displayOptions: onSet,
		default: 7,
		description: 'Length of the rolling cap window',
	},
];

/** Lib field names -> the parameter names of this operation. */
const LABELS: Record<string, string> = {
	consent: 'Consent Rule',
	'quietHours.startHour': 'Quiet Hours Start',
	'quietHours.endHour': 'Quiet Hours End',
	'quietHours.fallbackZone': 'Fallback Time Zone',
	'frequencyCap.max': 'Frequency Cap (Mails)',
	'frequencyCap.window': 'Frequency Cap Window (Days)',
};

export function policyJson(policy: SendPolicy): IDataObject {
	return JSON.parse(JSON.stringify(policy)) as IDataObject;
}

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const inputs = perItem(this, (i) => {
		const p = <T>(name: string, fallback: T) => this.getNodeParameter(name, i, fallback) as T;
		const capMax = Number(p('capMax', 0));
		return {
			consent: p('consent', 'doubleOptIn'),
			quietHours: p('useQuietHours', true)
				? {
						startHour: Number(p('quietStart', 21)),
						endHour: Number(p('quietEnd', 8)),
						fallbackZone: String(p('fallbackTimeZone', 'UTC')),
					}
				: null,
			frequencyCap: capMax > 0 ? { max: capMax, windowMs: Number(p('capDays', 7)) * DAY } : null,
		};
	});
	const policies = new SendPolicies(store);
	// One policy per workspace: items are applied in order, each checked whole before it is written.
	const results: Array<Result<SendPolicy>> = [];
	for (const input of inputs) {
		if (input instanceof Error) {
			results.push({ ok: false, error: input });
			continue;
		}
		try {
			results.push({ ok: true, value: await policies.set(input) });
		} catch (error) {
			results.push({ ok: false, error: error as Error });
		}
	}
	return collect(
		this,
		relabel(results, (field) => LABELS[field] ?? field),
		policyJson,
	);
}
