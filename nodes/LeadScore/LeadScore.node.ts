import {
	NodeConnectionTypes,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeParameters,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { compileModel, Scoring, type CompiledModel, type ScoreInput } from '../../lib/scoring';
import { chainOf } from '../Contact/chain';
import { contactIdOf, eventOf, hasExpression, readModel, stringOrEmpty } from './model';
import { jsonParameter, perItem, runGrouped, toNodeError } from '../shared/items';
import { CREDENTIAL_NAME, leaseStore, testContactStoreCredential } from '../shared/store';

// Evaluated by n8n in the editor: a second output only when grade changes are routed apart.
const configuredOutputs = (parameters: INodeParameters) =>
	parameters.routeGradeChanges
		? [
				{ type: 'main', displayName: 'Scored' },
				{ type: 'main', displayName: 'Grade Changed' },
			]
		: [{ type: 'main', displayName: 'Scored' }];

const FIELD_OPERATORS = [
	{ name: 'Between', value: 'between' },
	{ name: 'Contains', value: 'contains' },
	{ name: 'Ends With', value: 'endsWith' },
	{ name: 'Equals', value: 'equals' },
	{ name: 'Exists', value: 'exists' },
	{ name: 'Greater Than', value: 'gt' },
	{ name: 'Greater Than or Equal', value: 'gte' },
	{ name: 'In List', value: 'in' },
	{ name: 'Less Than', value: 'lt' },
	{ name: 'Less Than or Equal', value: 'lte' },
	{ name: 'Not Contains', value: 'notContains' },
	{ name: 'Not Equals', value: 'notEquals' },
	{ name: 'Not Exists', value: 'notExists' },
	{ name: 'Not In List', value: 'notIn' },
	{ name: 'Regex', value: 'regex' },
	{ name: 'Starts With', value: 'startsWith' },
];

const MODEL_PARAMETERS = ['model', 'rulesInput', 'rules', 'rulesJson', 'decay', 'decayDays', 'grades'];

// Compiled models without expressions, by raw parameters: reading and compiling them is most of the
// node's own work on a webhook batch. Bounded: edited workflows leave old entries behind.
const STATIC_MODELS_KEPT = 100;
const staticModels = new Map<string, CompiledModel>();

// Field rules run inside the scoring script, which has no regular expressions.
const RULE_FIELD_OPERATORS = FIELD_OPERATORS.filter((o) => o.value !== 'regex');

export class LeadScore implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Lead Score',
		name: 'leadScore',
		icon: { light: 'file:leadScore.svg', dark: 'file:leadScore.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["operation"] === "recalculate" ? "recalculate" : "score " + ($parameter["model"] || "default") }}',
		description: 'Scores contacts from events and fields, with decay, grades and grade-change events',
		defaults: { name: 'Lead Score' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: `={{(${configuredOutputs})($parameter)}}`,
		credentials: [{ name: CREDENTIAL_NAME, required: true, testedBy: 'contactStoreConnectionTest' }],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Score Event', value: 'scoreEvent', action: 'Score an event', description: 'Apply event rules to the event of each item, then field rules, decay and grade' },
					{ name: 'Recalculate', value: 'recalculate', action: 'Recalculate a score', description: 'Apply field rules, decay and grade without an event (e.g. on a schedule)' },
				],
				default: 'scoreEvent',
			},
			{
				displayName: 'Input',
				name: 'input',
				type: 'options',
				options: [
					{
						name: 'From Input Item',
						value: 'item',
						description: 'Contact from contact.ID, contactId or ID; event from the event object (name, ID, time, properties) or name / eventId. Fastest.',
					},
					{ name: 'Define Below', value: 'define', description: 'Map the contact and the event with expressions' },
				],
				default: 'item',
			},
			{
				displayName: 'Contact ID',
				name: 'contactId',
				type: 'string',
				default: '={{ $json.contact?.id ?? $json.contactId ?? $json.id }}',
				required: true,
				displayOptions: { show: { input: ['define'] } },
				description: 'The contact to score',
			},
			{
				displayName: 'Event Name',
				name: 'eventName',
				type: 'string',
				default: '={{ $json.event?.name ?? $json.name }}',
				required: true,
				displayOptions: { show: { operation: ['scoreEvent'], input: ['define'] } },
			},
			{
				displayName: 'Event ID',
				name: 'eventId',
				type: 'string',
				default: '={{ $json.event?.id ?? $json.eventId ?? "" }}',
				displayOptions: { show: { operation: ['scoreEvent'], input: ['define'] } },
				description: 'Event ID or idempotency key: the same event scored twice changes nothing. Without one, the event name and time identify it.',
			},
			{
				displayName: 'Event Time',
				name: 'eventTime',
				type: 'string',
				default: '={{ $json.event?.time ?? $json.time ?? "" }}',
				displayOptions: { show: { operation: ['scoreEvent'], input: ['define'] } },
				description: 'When it happened (ISO 8601 or epoch ms; empty for now). Decay and "once per day" count from it.',
			},
			{
				displayName: 'Event Properties',
				name: 'eventProperties',
				type: 'json',
				default: '={{ $json.event?.properties ?? $json.properties ?? {} }}',
				displayOptions: { show: { operation: ['scoreEvent'], input: ['define'] } },
				description: 'The properties rule conditions look at',
			},
			{
				displayName: 'Score Model',
				name: 'model',
				type: 'string',
				default: 'default',
				description: 'Name of the score (several can live side by side, e.g. "fit" and "intent")',
			},
			{
				displayName: 'Define Rules',
				name: 'rulesInput',
				type: 'options',
				options: [
					{ name: 'Using Fields Below', value: 'fields' },
					{ name: 'Using JSON', value: 'json', description: 'A list of rules, with several property conditions each' },
				],
				default: 'fields',
			},
			{
				displayName: 'Rules',
				name: 'rules',
				type: 'fixedCollection',
				typeOptions: { multipleValues: true, sortable: true },
				placeholder: 'Add Rule',
				default: {},
				displayOptions: { show: { rulesInput: ['fields'] } },
				options: [
					{
						displayName: 'Rule',
						name: 'rule',
						values: [
							{
								displayName: 'Decay',
								name: 'decay',
								type: 'options',
								options: [
									{ name: 'Node Default', value: 'default' },
									{ name: 'None', value: 'none' },
									{ name: 'Expire After Days', value: 'expire' },
									{ name: 'Halve Every Days', value: 'halfLife' },
								],
								default: 'default',
								displayOptions: { show: { kind: ['event'] } },
							},
							{ displayName: 'Decay Days', name: 'decayDays', type: 'number', default: 30, displayOptions: { show: { kind: ['event'], decay: ['expire', 'halfLife'] } } },
							{ displayName: 'Event Name', name: 'event', type: 'string', default: '', displayOptions: { show: { kind: ['event'] } }, placeholder: 'e.g. page_viewed' },
							{ displayName: 'Field', name: 'field', type: 'string', default: '', displayOptions: { show: { kind: ['field'] } }, placeholder: 'e.g. jobTitle or lifecycleStage' },
							{
								displayName: 'Field Operator',
								name: 'fieldOperator',
								type: 'options',
								options: RULE_FIELD_OPERATORS,
								default: 'equals',
								displayOptions: { show: { kind: ['field'] } },
							},
							{
								displayName: 'Frequency',
								name: 'frequency',
								type: 'options',
								options: [
									{ name: 'Every Time', value: 'everyTime' },
									{ name: 'Once per Day (UTC)', value: 'oncePerDay' },
									{ name: 'Once per Contact', value: 'oncePerContact' },
								],
								default: 'everyTime',
								displayOptions: { show: { kind: ['event'] } },
							},
							{
								displayName: 'Kind',
								name: 'kind',
								type: 'options',
								options: [
									{ name: 'Event', value: 'event', description: 'Points when the item\'s event matches' },
									{ name: 'Field Condition', value: 'field', description: 'Points once while a contact field meets the condition' },
								],
								default: 'event',
							},
							{ displayName: 'Name', name: 'name', type: 'string', default: '', required: true, description: 'Stable name of the rule; renaming it lets it give points again' },
							{ displayName: 'Points', name: 'points', type: 'number', default: 10, description: 'Negative points lower the score' },
							{ displayName: 'Property', name: 'property', type: 'string', default: '', displayOptions: { show: { kind: ['event'] } }, description: 'Optional event property to check (dots for nesting, e.g. page.path)' },
							{ displayName: 'Property Operator', name: 'propertyOperator', type: 'options', options: FIELD_OPERATORS, default: 'equals', displayOptions: { show: { kind: ['event'] } } },
							{ displayName: 'Property Value', name: 'propertyValue', type: 'string', default: '', displayOptions: { show: { kind: ['event'] } } },
							{ displayName: 'Value', name: 'value', type: 'string', default: '', displayOptions: { show: { kind: ['field'] } }, description: 'Number, text, date, or a comma-separated list for In List' },
							{ displayName: 'Value 2', name: 'value2', type: 'string', default: '', displayOptions: { show: { kind: ['field'], fieldOperator: ['between'] } } },
						],
					},
				],
			},
			{
				displayName: 'Rules (JSON)',
				name: 'rulesJson',
				type: 'json',
				default: '[\n  {"name": "pricing page", "event": "page_viewed", "where": [{"property": "path", "operator": "equals", "value": "/pricing"}], "points": 10}\n]',
				displayOptions: { show: { rulesInput: ['json'] } },
				description: 'Rules as {name, points, event, where: [{property, operator, value}], frequency, decay: {mode, days}} or {name, points, field: {field, operator, value}}',
			},
			{
				displayName: 'Decay',
				name: 'decay',
				type: 'options',
				options: [
					{ name: 'None', value: 'none', description: 'Points last forever' },
					{ name: 'Expire After Days', value: 'expire', description: 'Points count for N days after the event' },
					{ name: 'Halve Every Days', value: 'halfLife', description: 'Points lose half their value every N days' },
				],
				default: 'none',
				description: 'Default decay of event points; computed whenever the score is read, no job needed',
			},
			{ displayName: 'Decay Days', name: 'decayDays', type: 'number', typeOptions: { minValue: 0 }, default: 90, displayOptions: { hide: { decay: ['none'] } } },
			{
				displayName: 'Grades',
				name: 'grades',
				type: 'fixedCollection',
				typeOptions: { multipleValues: true },
				placeholder: 'Add Grade',
				default: { grade: [{ name: 'cold', minScore: 0 }, { name: 'warm', minScore: 20 }, { name: 'hot', minScore: 50 }] },
				description: 'Named grades by minimum score; the lowest grade also covers every score below the next one',
				options: [
					{
						displayName: 'Grade',
						name: 'grade',
						values: [
							{ displayName: 'Name', name: 'name', type: 'string', default: '' },
							{ displayName: 'Minimum Score', name: 'minScore', type: 'number', default: 0 },
						],
					},
				],
			},
			{
				displayName: 'Route Grade Changes to Second Output',
				name: 'routeGradeChanges',
				type: 'boolean',
				default: false,
				description: 'Whether items whose grade changed go to a second output ("Grade Changed") instead of the first',
			},
		],
	};

	methods = { credentialTest: { contactStoreConnectionTest: testContactStoreCredential } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const operation = this.getNodeParameter('operation', 0) as string;
		const route = this.getNodeParameter('routeGradeChanges', 0, false) as boolean;
		// A model with expressions (points from the item...) is read per item, sharing one
		// compilation between items that resolve alike; one without is read and compiled once and
		// kept across executions, keyed by its raw parameters.
		const compiledByModel = new Map<string, CompiledModel>();
		const modelFor = (i: number): CompiledModel => {
			const raw = readModel(this, i);
			const key = JSON.stringify(raw);
			let compiled = compiledByModel.get(key);
			if (!compiled) compiledByModel.set(key, (compiled = compileModel(raw)));
			return compiled;
		};
		// getNode() deep-copies the node: once.
		const node = this.getNode();
		const modelParameters = MODEL_PARAMETERS.map((name) => node.parameters[name]);
		let shared: CompiledModel | undefined;
		if (!hasExpression(modelParameters)) {
			const key = JSON.stringify([node.typeVersion, modelParameters]);
			shared = staticModels.get(key);
			if (!shared) {
				try {
					shared = modelFor(0);
				} catch (error) {
					throw toNodeError(this, error as Error, 0);
				}
				if (staticModels.size >= STATIC_MODELS_KEPT) staticModels.clear();
				staticModels.set(key, shared);
			}
		}
		const fromItem = this.getNodeParameter('input', 0, 'item') === 'item';
		// Items without a $chain (not from a Contact Trigger) all carry just this workflow.
		let ownChain: ReturnType<typeof chainOf> | undefined;
		const inputs = perItem(this, (i): ScoreInput & { model: CompiledModel } => {
			const json = items[i].json;
			// The item's $chain plus this workflow go with $grade_changed, for Loop Guard.
			const input: ScoreInput & { model: CompiledModel } = {
				contactId: fromItem ? contactIdOf(json) : (this.getNodeParameter('contactId', i) as string),
				source: 'lead-score',
				chain: json.$chain === undefined ? (ownChain ??= chainOf(this, i)) : chainOf(this, i),
				model: shared ?? modelFor(i),
			};
			if (operation === 'scoreEvent') {
				input.event = fromItem
					? eventOf(json)
					: {
							name: this.getNodeParameter('eventName', i) as string,
							id: stringOrEmpty(this.getNodeParameter('eventId', i, '')),
							time: this.getNodeParameter('eventTime', i, '') as string,
							properties: jsonParameter(this.getNodeParameter('eventProperties', i, {}), 'eventProperties'),
						};
			}
			return input;
		});
		const lease = await leaseStore(this);
		try {
			const scoring = new Scoring(lease.store);
			// Items grouped by their model; all groups share one round trip.
			const results = await runGrouped(inputs, (input) => input.model, (group, model) => scoring.score(model, group));
			const scored: INodeExecutionData[] = [];
			const changed: INodeExecutionData[] = [];
			results.forEach((result, i) => {
				if (!result.ok) {
					const error = toNodeError(this, result.error, i);
					if (!this.continueOnFail()) throw error;
					scored.push({ json: { ...items[i].json, error: error.message }, pairedItem: { item: i } });
					return;
				}
				const leadScore = result.value;
				(route && leadScore.changed ? changed : scored).push({ json: { ...items[i].json, leadScore: leadScore as unknown as IDataObject }, pairedItem: { item: i } });
			});
			return route ? [scored, changed] : [scored];
		} finally {
			lease.release();
		}
	}
}
