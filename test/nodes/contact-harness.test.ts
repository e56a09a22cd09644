import {
	NodeOperationError,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { contactStoreCredentials, runNode, runWorkflow } from '../harness/n8n';

/** A minimal node of the shape ours have: reads parameters per item, may fail per item. */
class Echo implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Echo',
		name: 'echo',
		group: ['transform'],
		version: 1,
		description: 'Test node',
		defaults: { name: 'Echo' },
		inputs: ['main'],
		outputs: ['main'],
		credentials: [{ name: 'contactStoreApi', required: true }],
		properties: [
			{ displayName: 'Text', name: 'text', type: 'string', default: '' },
			{ displayName: 'Fail On', name: 'failOn', type: 'string', default: '' },
			{ displayName: 'Skip Pairing', name: 'skipPairing', type: 'boolean', default: false },
			{ displayName: 'Binary Property', name: 'binaryProperty', type: 'string', default: '' },
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const credentials = await this.getCredentials('contactStoreApi');
		const out: INodeExecutionData[] = [];
		for (let i = 0; i < this.getInputData().length; i++) {
			const binaryProperty = this.getNodeParameter('binaryProperty', i) as string;
			const text = binaryProperty
				? (await this.helpers.getBinaryDataBuffer(i, binaryProperty)).toString('utf8')
				: (this.getNodeParameter('text', i) as string);
			try {
				if (text === this.getNodeParameter('failOn', i))
					throw new NodeOperationError(this.getNode(), `Bad text (item ${i})`, { itemIndex: i });
				out.push({
					json: { text, prefix: credentials.keyPrefix as string, workflowId: this.getWorkflow().id ?? '' },
					...(this.getNodeParameter('skipPairing', i) ? {} : { pairedItem: { item: i } }),
				});
			} catch (error) {
				if (!this.continueOnFail()) throw error;
				out.push({ json: { error: (error as Error).message }, pairedItem: { item: i } });
			}
		}
		return [out];
	}
}

describe('n8n harness', () => {
	const credentials = contactStoreCredentials('standalone', 'harness:');

	it('resolves expressions per item through the real engine and pairs items', async () => {
		const [out] = await runNode({
			nodeType: new Echo(),
			parameters: { text: '={{ $json.email.toUpperCase() }}-{{ $itemIndex }}' },
			items: [{ email: 'a@x.io' }, { email: 'b@x.io' }],
			credentials,
			workflowId: 'wf-42',
		});
		expect(out.map((i) => i.json)).toEqual([
			{ text: 'A@X.IO-0', prefix: 'harness:', workflowId: 'wf-42' },
			{ text: 'B@X.IO-1', prefix: 'harness:', workflowId: 'wf-42' },
		]);
		expect(out.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
	});

	it('throws the node error, or returns it on the item under continueOnFail', async () => {
		const base = {
			nodeType: new Echo(),
			parameters: { text: '={{ $json.t }}', failOn: 'bad' },
			items: [{ t: 'ok' }, { t: 'bad' }],
			credentials,
		};
		await expect(runNode(base)).rejects.toThrow('Bad text (item 1)');
		const [out] = await runNode({ ...base, continueOnFail: true });
		expect(out.map((i) => i.json)).toEqual([expect.objectContaining({ text: 'ok' }), { error: 'Bad text (item 1)' }]);
	});

	it('serves binary input data through the real helpers', async () => {
		const raw = Buffer.from('Subject: hi\r\n\r\nbody');
		const [out] = await runNode({
			nodeType: new Echo(),
			parameters: { binaryProperty: 'data' },
			items: [
				{ json: {}, binary: { data: { data: raw.toString('base64'), mimeType: 'message/rfc822', fileName: 'm.eml' } } },
			],
			credentials,
		});
		expect(out[0].json.text).toBe('Subject: hi\r\n\r\nbody');
	});

	it('gives expressions the workflow time zone', async () => {
		const [out] = await runNode({
			nodeType: new Echo(),
			parameters: { text: '={{ $now.zoneName }}' },
			credentials,
			timezone: 'Asia/Tokyo',
		});
		expect(out[0].json.text).toBe('Asia/Tokyo');
	});

	it('fails when a node returns items without pairedItem', async () => {
		await expect(
			runNode({
				nodeType: new Echo(),
				parameters: { text: 'x', skipPairing: true },
				items: [{ a: 1 }, { a: 2 }],
				credentials,
			}),
		).rejects.toThrow(/without a valid pairedItem/);
	});

	it('reports a missing credential like n8n', async () => {
		await expect(runNode({ nodeType: new Echo(), parameters: { text: 'x' }, credentials: {} })).rejects.toThrow(
			/contactStoreApi/,
		);
	});

	it('runs connected nodes and resolves $() references to earlier nodes', async () => {
		const run = await runWorkflow({
			nodes: [
				{ name: 'First', nodeType: new Echo(), parameters: { text: '={{ $json.n * 2 }}' } },
				{
					name: 'Second',
					nodeType: new Echo(),
					parameters: { text: "={{ $json.text + '/' + $('First').item.json.text }}" },
				},
			],
			connections: [['First', 'Second']],
			items: [{ n: 1 }, { n: 5 }],
			credentials,
		});
		expect(run.output('Second')[0].map((i) => i.json.text)).toEqual(['2/2', '10/10']);
	});
});
