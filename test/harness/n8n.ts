/**
 * Runs our node types through n8n's real engine (n8n-core 2.41 WorkflowExecute + ExecuteContext,
 * n8n-workflow Workflow and expression engine), not a hand-made mock of IExecuteFunctions.
 *
 * What is real: parameter resolution (including `={{ ... }}` expressions against the input items,
 * `$json`, `$input`, `$workflow`, `$execution`...), displayOptions/defaults, credentials lookup
 * (checked against the node's `credentials` description, then served decrypted by our helper,
 * the way n8n's own `nodes-testing/credentials-helper.ts` does), `continueOnFail()` from the
 * node's `onError` setting, error wrapping and the error output, binary data helpers (in-memory
 * mode), item pairing, execution order of connected nodes.
 * What is not: the database, credential encryption, queue mode, webhooks and triggers (trigger
 * nodes are not started: feed their items as the input of the first node instead).
 *
 * `runNode` runs one node on given input items. `runWorkflow` runs several of our nodes
 * connected together (feeding items into the first one) and returns every node's output.
 * Both also check that every item the node itself returned carries a valid `pairedItem`
 * (the engine would silently fill some in, which would hide a missing one).
 *
 * Usage: `const [out] = await runNode({ nodeType: new Contact(), parameters: {...},
 * items: [{ email: 'a@b.co' }], credentials: contactStoreCredentials(topology) })`; node suites
 * call `afterAll(() => closeAllStores())` (lib/redis/pool) so pooled connections do not linger.
 */
import { randomUUID } from 'crypto';
import { Container } from '@n8n/di';
import { ErrorReporter, ExecutionLifecycleHooks, WorkflowExecute } from 'n8n-core';
import {
	ICredentialsHelper,
	Workflow,
	createRunExecutionData,
	type ICredentialDataDecryptedObject,
	type ICredentials,
	type IDataObject,
	type IExecuteFunctions,
	type IHttpRequestOptions,
	type INode,
	type INodeExecutionData,
	type INodeParameters,
	type INodeProperties,
	type INodeType,
	type INodeTypes,
	type IConnections,
	type IRun,
	type IWorkflowExecuteAdditionalData,
	type IVersionedNodeType,
	type WorkflowExecuteMode,
} from 'n8n-workflow';
import { storeConfig, type Topology } from './store';

// n8n's crash reporter logs every node error to the console when Sentry is not set up; the errors
// stay in the run data, where the harness reads them.
(Container.get(ErrorReporter) as unknown as { report: () => void }).report = () => undefined;

/** Credential data as n8n hands it to a node after decryption, keyed by credential type. */
export type CredentialsByType = Record<string, ICredentialDataDecryptedObject>;

export class TestCredentialsHelper extends ICredentialsHelper {
	constructor(private readonly byType: CredentialsByType) {
		super();
	}

	getParentTypes(): string[] {
		return [];
	}

	isCredentialUsableByNode(): boolean {
		return true;
	}

	async authenticate(
		_c: ICredentialDataDecryptedObject,
		_t: string,
		request: IHttpRequestOptions,
	): Promise<IHttpRequestOptions> {
		return request;
	}

	async preAuthentication(): Promise<undefined> {
		return undefined;
	}

	async runPreAuthentication(): Promise<undefined> {
		return undefined;
	}

	async getCredentials(): Promise<ICredentials> {
		throw new Error('The test harness serves decrypted credentials only');
	}

	async getDecrypted(
		_additionalData: IWorkflowExecuteAdditionalData,
		_nodeCredentials: unknown,
		type: string,
	): Promise<ICredentialDataDecryptedObject> {
		const data = this.byType[type];
		if (!data) throw new Error(`The test gave no credentials of type "${type}"`);
		return { ...data };
	}

	async updateCredentials(): Promise<void> {}

	async updateCredentialsOauthTokenData(): Promise<void> {}

	getCredentialsProperties(): INodeProperties[] {
		return [];
	}
}

class TestNodeTypes implements INodeTypes {
	constructor(private readonly types: Record<string, INodeType>) {}

	getByName(name: string): INodeType | IVersionedNodeType {
		return this.getByNameAndVersion(name);
	}

	getByNameAndVersion(name: string): INodeType {
		const type = this.types[name];
		if (!type) throw new Error(`Unknown node type "${name}" in the test workflow`);
		return type;
	}

	getKnownTypes() {
		return {};
	}
}

/** The credential of the Contact Store pointing at the test Redis (a fresh prefix unless given). */
export function contactStoreCredentials(topology: Topology = 'standalone', keyPrefix?: string): CredentialsByType {
	const config = storeConfig(topology, keyPrefix);
	return {
		contactStoreApi: {
			host: config.host,
			port: config.port,
			user: '',
			password: '',
			database: 0,
			tls: false,
			tlsSkipVerify: false,
			clusterNodes: (config.clusterNodes ?? []).join(','),
			keyPrefix: config.keyPrefix,
			signingSecret: 'test-signing-secret',
		},
	};
}

export type InputItem = INodeExecutionData | IDataObject;

function toExecutionData(items: InputItem[]): INodeExecutionData[] {
	return items.map((item) => (isExecutionData(item) ? item : { json: item }));
}

function isExecutionData(item: InputItem): item is INodeExecutionData {
	return (
		typeof item === 'object' &&
		item !== null &&
		'json' in item &&
		typeof item.json === 'object' &&
		Object.keys(item).every((k) => ['json', 'binary', 'pairedItem', 'error'].includes(k))
	);
}

export interface WorkflowNodeSpec {
	/** Node name in the workflow (used in connections and `$('Name')` expressions). */
	name: string;
	nodeType: INodeType;
	parameters: INodeParameters;
	typeVersion?: number;
	/** n8n's "On Error" setting; `continueRegularOutput` is what "continue on fail" means. */
	onError?: INode['onError'];
	credentials?: boolean;
}

export interface RunWorkflowOptions {
	nodes: WorkflowNodeSpec[];
	/** [from, to] pairs (main output 0 -> main input 0), or [from, to, outputIndex]. */
	connections?: Array<[string, string] | [string, string, number]>;
	/** Items fed into the first node, as a trigger would emit them. */
	items?: InputItem[];
	credentials?: CredentialsByType;
	workflowId?: string;
	executionId?: string;
	mode?: WorkflowExecuteMode;
	/** Check that items returned by our nodes carry a valid pairedItem (default true). */
	strictPairedItems?: boolean;
	/** The workflow's time zone setting (n8n's default is America/New_York). */
	timezone?: string;
}

export interface WorkflowRun {
	run: IRun;
	/** Output branches of a node (its first run). */
	output(nodeName: string): INodeExecutionData[][];
	/** The error a node stopped with, as n8n recorded it. */
	error(nodeName: string): Error | undefined;
}

const typeName = (spec: WorkflowNodeSpec) => `test.${spec.name.replace(/[^A-Za-z0-9]/g, '')}`;

/** Wraps execute so the harness sees exactly what the node returned, before the engine's fix-ups. */
function checkedType(spec: WorkflowNodeSpec, strict: boolean): INodeType {
	const original = spec.nodeType;
	if (!original.execute || !strict) return original;
	const execute = original.execute;
	const wrapped = Object.create(original) as INodeType;
	wrapped.execute = async function (this: IExecuteFunctions) {
		const inputCount = this.getInputData().length;
		const result = await execute.call(this);
		if (!Array.isArray(result)) return result;
		// Plain loops, no array or object per item: benches run 10,000-item batches through this check,
		// and its garbage would count as the node's time.
		const valid = (ref: number) => !(ref < 0 || ref >= inputCount);
		for (let branch = 0; branch < result.length; branch++) {
			const items = result[branch] ?? [];
			for (let index = 0; index < items.length; index++) {
				const paired = items[index].pairedItem;
				const ok =
					paired === undefined
						? false
						: typeof paired === 'number'
							? valid(paired)
							: Array.isArray(paired)
								? paired.length > 0 && paired.every((ref) => valid(ref.item))
								: valid(paired.item);
				if (!ok) {
					throw new Error(
						`Harness: node "${spec.name}" returned item ${index} of output ${branch} without a valid pairedItem (got ${JSON.stringify(paired)}, ${inputCount} input items)`,
					);
				}
			}
		}
		return result;
	};
	return wrapped;
}

/** Runs connected nodes of ours through n8n's WorkflowExecute. */
export async function runWorkflow(options: RunWorkflowOptions): Promise<WorkflowRun> {
	const strict = options.strictPairedItems ?? true;
	const types: Record<string, INodeType> = {};
	const nodes: INode[] = options.nodes.map((spec, index) => {
		types[typeName(spec)] = checkedType(spec, strict);
		const credentialTypes = (spec.nodeType.description.credentials ?? []).map((c) => c.name);
		return {
			id: randomUUID(),
			name: spec.name,
			type: typeName(spec),
			typeVersion: spec.typeVersion ?? latestVersion(spec.nodeType),
			position: [index * 200, 0],
			parameters: spec.parameters,
			...(spec.onError ? { onError: spec.onError } : {}),
			...(spec.credentials === false || credentialTypes.length === 0
				? {}
				: {
						credentials: Object.fromEntries(
							credentialTypes.map((type) => [type, { id: `cred-${type}`, name: `Test ${type}` }]),
						),
					}),
		};
	});
	const connections: IConnections = {};
	for (const [from, to, output = 0] of options.connections ?? []) {
		const main = (connections[from] ??= { main: [] }).main;
		while (main.length <= output) main.push([]);
		(main[output] ??= []).push({ node: to, type: 'main', index: 0 });
	}

	const workflowId = options.workflowId ?? 'wf-test';
	const executionId = options.executionId ?? String(Math.floor(Math.random() * 1e9));
	const workflow = new Workflow({
		id: workflowId,
		name: 'Test workflow',
		nodes,
		connections,
		active: false,
		nodeTypes: new TestNodeTypes(types),
		settings: { executionOrder: 'v1', ...(options.timezone ? { timezone: options.timezone } : {}) },
	});

	const mode = options.mode ?? 'manual';
	const hooks = new ExecutionLifecycleHooks(mode, executionId, {
		id: workflowId,
		name: 'Test workflow',
		nodes,
		connections,
		active: false,
		isArchived: false,
		settings: {},
		createdAt: new Date(),
		updatedAt: new Date(),
		activeVersionId: null,
	});
	const additionalData = {
		hooks,
		executionId,
		credentialsHelper: new TestCredentialsHelper(options.credentials ?? {}),
		currentNodeParameters: undefined,
		restApiUrl: 'http://localhost:5678/rest',
		instanceBaseUrl: 'http://localhost:5678',
		webhookBaseUrl: 'http://localhost:5678/webhook',
		webhookWaitingBaseUrl: 'http://localhost:5678/webhook-waiting',
		webhookTestBaseUrl: 'http://localhost:5678/webhook-test',
		formWaitingBaseUrl: 'http://localhost:5678/form-waiting',
		variables: {},
		setExecutionStatus: () => undefined,
		sendDataToUI: () => undefined,
		logAiEvent: () => undefined,
		executeWorkflow: async () => {
			throw new Error('Sub-workflows are not supported by the test harness');
		},
		getRunExecutionData: async () => undefined,
	} as unknown as IWorkflowExecuteAdditionalData;

	const runExecutionData = createRunExecutionData({
		executionData: {
			nodeExecutionStack: [
				{ node: nodes[0], data: { main: [toExecutionData(options.items ?? [{ json: {} }])] }, source: null },
			],
		},
	});

	const run = await new WorkflowExecute(additionalData, mode, runExecutionData).processRunExecutionData(workflow);
	const runData = run.data.resultData.runData;
	return {
		run,
		output(nodeName) {
			const task = runData[nodeName]?.[0];
			if (!task)
				throw new Error(
					`Node "${nodeName}" did not run${run.data.resultData.error ? `: ${run.data.resultData.error.message}` : ''}`,
				);
			if (task.error) throw asError(task.error);
			return (task.data?.main ?? []).map((items) => items ?? []);
		},
		error(nodeName) {
			const error = runData[nodeName]?.[0]?.error;
			return error === undefined ? undefined : asError(error);
		},
	};
}

/** n8n keeps some errors as plain objects in run data; give callers a real Error with the same fields. */
function asError(error: unknown): Error {
	if (error instanceof Error) return error;
	const fields = error as { message?: string; name?: string };
	return Object.assign(new Error(fields.message ?? 'Unknown node error'), fields);
}

function latestVersion(type: INodeType): number {
	const version = type.description.version;
	return Array.isArray(version) ? Math.max(...version) : version;
}

export interface RunNodeOptions {
	nodeType: INodeType;
	/** Parameters exactly as a workflow JSON holds them; `={{ ... }}` strings are expressions. */
	parameters: INodeParameters;
	/** Input items (plain objects become `{ json }`); defaults to one empty item. */
	items?: InputItem[];
	credentials?: CredentialsByType;
	/** Sets the node's "On Error" to "Continue" (n8n's continueOnFail). */
	continueOnFail?: boolean;
	onError?: INode['onError'];
	typeVersion?: number;
	workflowId?: string;
	executionId?: string;
	strictPairedItems?: boolean;
	timezone?: string;
}

/**
 * Runs one node's execute in n8n's real execution context and returns its output branches.
 * Throws the error the node failed with (a NodeOperationError / NodeApiError as n8n records it).
 */
export async function runNode(options: RunNodeOptions): Promise<INodeExecutionData[][]> {
	const name = options.nodeType.description.defaults?.name ?? options.nodeType.description.displayName;
	const result = await runWorkflow({
		nodes: [
			{
				name,
				nodeType: options.nodeType,
				parameters: options.parameters,
				typeVersion: options.typeVersion,
				onError: options.onError ?? (options.continueOnFail ? 'continueRegularOutput' : undefined),
			},
		],
		items: options.items,
		credentials: options.credentials,
		workflowId: options.workflowId,
		executionId: options.executionId,
		strictPairedItems: options.strictPairedItems,
		timezone: options.timezone,
	});
	return result.output(name);
}
