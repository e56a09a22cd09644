/**
 * Static checks of a workflow node's parameters against a node description, the way n8n's editor
 * reads them: every parameter name must exist and be shown (displayOptions) with the node's other
 * values, options / multiOptions values must be allowed, collections and fixed collections are
 * checked down to their leaves. n8n's own NodeHelpers decide visibility and issues.
 */
import {
	NodeHelpers,
	type INode,
	type INodeParameters,
	type INodeProperties,
	type INodePropertyCollection,
	type INodeTypeDescription,
	type NodeParameterValueType,
} from 'n8n-workflow';

const isExpression = (value: unknown) => typeof value === 'string' && value.startsWith('=');
const isObject = (value: unknown): value is Record<string, unknown> =>
	typeof value === 'object' && value !== null && !Array.isArray(value);

function allowedValues(property: INodeProperties): unknown[] | undefined {
	if (property.type !== 'options' && property.type !== 'multiOptions') return undefined;
	// Options loaded at run time (loadOptionsMethod) cannot be checked statically.
	if (property.typeOptions?.loadOptionsMethod || property.typeOptions?.loadOptions) return undefined;
	return (property.options ?? []).map((o) => (o as { value: unknown }).value);
}

/**
 * Problems with `values` (one level of parameters) against `properties`; `root` is the node's
 * top-level parameters (for displayOptions paths starting with "/").
 */
function checkLevel(
	properties: INodeProperties[],
	values: INodeParameters,
	root: INodeParameters,
	node: INode,
	description: INodeTypeDescription,
	path: string,
): string[] {
	const problems: string[] = [];
	// displayOptions look at the values n8n would use: the ones set, else the defaults.
	const effective: INodeParameters = path === '' ? { ...root, ...values } : { ...values };
	for (const p of properties) if (!(p.name in effective) && p.default !== undefined) effective[p.name] = p.default;
	for (const [name, value] of Object.entries(values)) {
		const where = `${path}${name}`;
		const candidates = properties.filter((p) => p.name === name);
		if (candidates.length === 0) {
			problems.push(`unknown parameter "${where}"`);
			continue;
		}
		const shown = candidates.filter((p) => NodeHelpers.displayParameter(effective, p, node, description, root));
		if (shown.length === 0) {
			problems.push(`parameter "${where}" is not shown with these settings (displayOptions)`);
			continue;
		}
		const property = shown[0];
		problems.push(...checkValue(property, value as NodeParameterValueType, root, node, description, where));
	}
	return problems;
}

function checkValue(
	property: INodeProperties,
	value: NodeParameterValueType,
	root: INodeParameters,
	node: INode,
	description: INodeTypeDescription,
	where: string,
): string[] {
	if (isExpression(value)) {
		return property.noDataExpression ? [`parameter "${where}" does not accept expressions`] : [];
	}
	const allowed = allowedValues(property);
	switch (property.type) {
		case 'options':
			return allowed && !allowed.includes(value)
				? [`"${String(value)}" is not an option of "${where}" (${allowed.join(', ')})`]
				: [];
		case 'multiOptions': {
			if (!Array.isArray(value)) return [`"${where}" must be a list`];
			return allowed
				? (value as unknown[])
						.filter((v) => !allowed.includes(v))
						.map((v) => `"${String(v)}" is not an option of "${where}"`)
				: [];
		}
		case 'number':
			return typeof value === 'number' ? [] : [`"${where}" must be a number, got ${JSON.stringify(value)}`];
		case 'boolean':
			return typeof value === 'boolean' ? [] : [`"${where}" must be a boolean, got ${JSON.stringify(value)}`];
		case 'string':
			return typeof value === 'string' ? [] : [`"${where}" must be a string, got ${JSON.stringify(value)}`];
		case 'collection': {
			if (!isObject(value)) return [`"${where}" must be an object`];
			return checkLevel(
				(property.options ?? []) as INodeProperties[],
				value as INodeParameters,
				root,
				node,
				description,
				`${where}.`,
			);
		}
		case 'fixedCollection': {
			if (!isObject(value)) return [`"${where}" must be an object`];
			const groups = (property.options ?? []) as INodePropertyCollection[];
			const problems: string[] = [];
			for (const [groupName, groupValue] of Object.entries(value)) {
				const group = groups.find((g) => g.name === groupName);
				if (!group) {
					problems.push(`unknown group "${where}.${groupName}"`);
					continue;
				}
				const multiple = Boolean(property.typeOptions?.multipleValues);
				const entries = multiple ? groupValue : [groupValue];
				if (!Array.isArray(entries)) {
					problems.push(`"${where}.${groupName}" must be a list`);
					continue;
				}
				entries.forEach((entry, i) => {
					if (!isObject(entry)) problems.push(`"${where}.${groupName}[${i}]" must be an object`);
					else
						problems.push(
							...checkLevel(
								group.values,
								entry as INodeParameters,
								root,
								node,
								description,
								`${where}.${groupName}[${i}].`,
							),
						);
				});
			}
			return problems;
		}
		default:
			return [];
	}
}

/** Every problem with a node's parameters, including the issues n8n's editor would flag. */
export function parameterProblems(node: INode, description: INodeTypeDescription): string[] {
	const withDefaults =
		NodeHelpers.getNodeParameters(description.properties, node.parameters, true, false, node, description) ??
		node.parameters;
	const problems = checkLevel(description.properties, node.parameters, withDefaults, node, description, '');
	// n8n's own resolution: parameters it drops (unknown or hidden) must not be set.
	for (const name of Object.keys(node.parameters)) {
		if (!(name in withDefaults)) problems.push(`n8n drops parameter "${name}" when it resolves the node`);
	}
	// The editor fills in defaults when it loads a workflow, then reports issues on the result.
	const issues = NodeHelpers.getNodeParametersIssues(
		description.properties,
		{ ...node, parameters: withDefaults },
		description,
	);
	if (issues?.parameters) {
		for (const [name, messages] of Object.entries(issues.parameters))
			problems.push(`n8n reports an issue on "${name}": ${messages.join('; ')}`);
	}
	return problems.map((p) => `${node.name}: ${p}`);
}

/** The number of main outputs of a node with these parameters (evaluates `outputs` expressions). */
export function outputCount(description: INodeTypeDescription, parameters: INodeParameters): number {
	const outputs = description.outputs as unknown;
	if (Array.isArray(outputs)) return outputs.length;
	if (typeof outputs === 'string' && outputs.startsWith('={{') && outputs.endsWith('}}')) {
		// Our nodes' outputs are `={{(fn)($parameter)}}`: a plain function of the parameters.
		const evaluate = new Function('$parameter', `return (${outputs.slice(3, -2)});`) as (
			p: INodeParameters,
		) => unknown[];
		return evaluate(parameters).length;
	}
	throw new Error(`${description.name}: cannot count outputs ${JSON.stringify(outputs)}`);
}

/** The JavaScript inside each `{{ ... }}` of an expression parameter (n8n's template syntax). */
export function expressionSegments(value: string): string[] {
	if (!value.startsWith('=')) return [];
	const segments: string[] = [];
	const re = /\{\{([\s\S]*?)\}\}/g;
	let match: RegExpExecArray | null;
	while ((match = re.exec(value.slice(1)))) segments.push(match[1]);
	return segments;
}

/** Every string parameter value with its path, depth first. */
export function stringValues(value: unknown, path = ''): Array<[string, string]> {
	if (typeof value === 'string') return [[path, value]];
	if (Array.isArray(value)) return value.flatMap((v, i) => stringValues(v, `${path}[${i}]`));
	if (isObject(value)) return Object.entries(value).flatMap(([k, v]) => stringValues(v, path ? `${path}.${k}` : k));
	return [];
}
