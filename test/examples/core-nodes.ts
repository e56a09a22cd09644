/**
 * Checks the n8n core nodes of the example workflows against the descriptions of an installed n8n
 * (n8n-nodes-base of the n8n that tools/n8n/install.sh installs). Run in its own Node process by
 * examples.test.ts, because n8n's node files load ES modules that jest's module system refuses.
 * Usage: ts-node --transpile-only test/examples/core-nodes.ts <n8n-nodes-base/dist/nodes> <examples dir>
 * Prints a JSON list of problems.
 */
import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import type { INode, INodeType, INodeTypeDescription, IVersionedNodeType } from 'n8n-workflow';
import { parameterProblems } from './validate';

export const CORE_FILES: Record<string, string> = {
	'n8n-nodes-base.wait': 'Wait/Wait.node.js',
	'n8n-nodes-base.if': 'If/If.node.js',
	'n8n-nodes-base.set': 'Set/Set.node.js',
	'n8n-nodes-base.httpRequest': 'HttpRequest/HttpRequest.node.js',
	'n8n-nodes-base.scheduleTrigger': 'Schedule/ScheduleTrigger.node.js',
	'n8n-nodes-base.webhook': 'Webhook/Webhook.node.js',
	'n8n-nodes-base.noOp': 'NoOp/NoOp.node.js',
	'n8n-nodes-base.code': 'Code/Code.node.js',
	'n8n-nodes-base.stickyNote': 'StickyNote/StickyNote.node.js',
	'n8n-nodes-base.n8n': 'N8n/N8n.node.js',
	'n8n-nodes-base.executeWorkflow': 'ExecuteWorkflow/ExecuteWorkflow/ExecuteWorkflow.node.js',
	'n8n-nodes-base.executeWorkflowTrigger': 'ExecuteWorkflow/ExecuteWorkflowTrigger/ExecuteWorkflowTrigger.node.js',
	'n8n-nodes-base.readWriteFile': 'Files/ReadWriteFile/ReadWriteFile.node.js',
	'n8n-nodes-base.extractFromFile': 'Files/ExtractFromFile/ExtractFromFile.node.js',
	'n8n-nodes-base.splitOut': 'Transform/SplitOut/SplitOut.node.js',
};

function coreDescription(base: string, type: string, version: number): INodeTypeDescription {
	const file = CORE_FILES[type];
	if (!file) throw new Error(`no description file known for ${type}`);
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const mod = require(join(base, file)) as Record<string, new () => INodeType | IVersionedNodeType>;
	const instance = new (Object.values(mod)[0])();
	if ('nodeVersions' in instance) {
		const versioned = instance.nodeVersions[version];
		if (!versioned) throw new Error(`${type} has no version ${version}`);
		return versioned.description;
	}
	const versions = ([] as number[]).concat(instance.description.version);
	if (!versions.includes(version)) throw new Error(`${type} has no version ${version} (${versions.join(', ')})`);
	return instance.description;
}

export function coreProblems(base: string, examplesDir: string): string[] {
	const problems: string[] = [];
	const cache = new Map<string, INodeTypeDescription>();
	for (const file of readdirSync(examplesDir)
		.filter((f) => f.endsWith('.json'))
		.sort()) {
		const wf = JSON.parse(readFileSync(join(examplesDir, file), 'utf8')) as { nodes: INode[] };
		for (const node of wf.nodes.filter((n) => n.type.startsWith('n8n-nodes-base.'))) {
			const key = `${node.type}@${node.typeVersion}`;
			try {
				if (!cache.has(key)) cache.set(key, coreDescription(base, node.type, node.typeVersion));
				problems.push(...parameterProblems(node, cache.get(key)!).map((p) => `${file}: ${p}`));
			} catch (error) {
				problems.push(`${file}: ${node.name}: ${(error as Error).message}`);
			}
		}
	}
	return problems;
}

if (require.main === module) {
	const [base, dir] = process.argv.slice(2);
	process.stdout.write(JSON.stringify(coreProblems(base, dir)));
}
