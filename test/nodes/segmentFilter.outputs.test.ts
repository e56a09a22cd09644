import { NodeHelpers, Workflow, type INode, type INodeType, type INodeTypes } from 'n8n-workflow';
import { LeadScore } from '../../nodes/LeadScore/LeadScore.node';
import { SegmentFilter } from '../../nodes/SegmentFilter/SegmentFilter.node';

/** The output list n8n's editor and engine compute from the node's `outputs` expression. */
function outputsOf(type: INodeType, parameters: Record<string, unknown>): string[] {
	const node: INode = {
		id: '1',
		name: 'N',
		type: 'test.n',
		typeVersion: 1,
		position: [0, 0],
		parameters: parameters as INode['parameters'],
	};
	const nodeTypes: INodeTypes = { getByName: () => type, getByNameAndVersion: () => type, getKnownTypes: () => ({}) };
	const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
	return NodeHelpers.getNodeOutputs(workflow, node, type.description).map((o) =>
		typeof o === 'string' ? o : (o.displayName as string),
	);
}

describe('dynamic outputs, as n8n evaluates them', () => {
	it('Segment Filter: Matched / Not Matched per item, Contacts / Next Page for a segment', () => {
		expect(outputsOf(new SegmentFilter(), { mode: 'filter' })).toEqual(['Matched', 'Not Matched']);
		expect(outputsOf(new SegmentFilter(), { mode: 'segment' })).toEqual(['Contacts', 'Next Page']);
	});

	it('Lead Score: a second output only when grade changes are routed apart', () => {
		expect(outputsOf(new LeadScore(), { routeGradeChanges: false })).toEqual(['Scored']);
		expect(outputsOf(new LeadScore(), { routeGradeChanges: true })).toEqual(['Scored', 'Grade Changed']);
	});
});
