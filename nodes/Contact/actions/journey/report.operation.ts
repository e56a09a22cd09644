import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import {
	Analytics,
	renderReportPage,
	REPORT_MAX_DAYS,
	type AnalyticsReport,
	type ContactStore,
	type Result,
} from '../../../../lib';
import { errorItem, perItem } from '../../../shared/items';
import { showFor } from '../../../shared/contact';

const list = (text: unknown) =>
	String(text ?? '')
		.split(',')
		.map((s) => s.trim())
		.filter(Boolean);

export const description: INodeProperties[] = [
	{
		displayName: 'From',
		name: 'from',
		type: 'string',
		required: true,
		displayOptions: showFor(['journey'], ['report']),
		default: "={{ $today.minus(7, 'days').toISODate() }}",
		description: `First day of the report (UTC, inclusive), e.g. 2026-05-01. A report covers at most ${REPORT_MAX_DAYS} days.`,
	},
	{
		displayName: 'To',
		name: 'to',
		type: 'string',
		required: true,
		displayOptions: showFor(['journey'], ['report']),
		default: "={{ $today.minus(1, 'days').toISODate() }}",
		description: 'Last day of the report (UTC, inclusive)',
	},
	{
		displayName: 'Journeys',
		name: 'journeys',
		type: 'string',
		displayOptions: showFor(['journey'], ['report']),
		default: '',
		placeholder: 'e.g. 4xTfRv2TZaB1Kq7m',
		description: 'Workflow IDs to report on, separated by commas. Empty: every journey that counted anything.',
	},
	{
		displayName: 'Campaigns',
		name: 'campaigns',
		type: 'string',
		displayOptions: showFor(['journey'], ['report']),
		default: '',
		placeholder: 'e.g. welcome-1, welcome-2',
		description: 'Campaign IDs to report on, separated by commas. Empty: every campaign that sent in the range.',
	},
	{
		displayName: 'Daily Rows',
		name: 'daily',
		type: 'boolean',
		displayOptions: showFor(['journey'], ['report']),
		default: true,
		description:
			'Whether to add, per journey and campaign, a row for each day on which it counted something (a day without a row counted nothing). Off: totals only, a small item for long ranges.',
	},
	{
		displayName: 'Add HTML Page',
		name: 'html',
		type: 'boolean',
		displayOptions: showFor(['journey'], ['report']),
		default: false,
		description:
			'Whether to add the report as an HTML page with charts (binary property "report"), to mail or post to Slack',
	},
];

function withoutDailyRows(report: AnalyticsReport): AnalyticsReport {
	return {
		...report,
		journeys: report.journeys.map(({ daily, ...journey }) => journey),
		campaigns: report.campaigns.map(({ daily, ...campaign }) => campaign),
	};
}

/** One report per input item: the counts in JSON, and the page with charts as a binary HTML file when asked. */
export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const analytics = new Analytics(store);
	const requests = perItem(this, (i) => ({
		from: this.getNodeParameter('from', i),
		to: this.getNodeParameter('to', i),
		journeys: list(this.getNodeParameter('journeys', i, '')),
		campaigns: list(this.getNodeParameter('campaigns', i, '')),
		daily: this.getNodeParameter('daily', i, true) as boolean,
		html: this.getNodeParameter('html', i, false) as boolean,
	}));
	const results: Array<Result<INodeExecutionData>> = await Promise.all(
		requests.map(async (request, itemIndex) => {
			try {
				if (request instanceof Error) throw request;
				// The page draws the daily lines, so it reads the daily rows even when the item leaves them out.
				const report = await analytics.report({ ...request, daily: request.daily || request.html });
				const item: INodeExecutionData = {
					json: { ...(request.daily ? report : withoutDailyRows(report)) },
					pairedItem: { item: itemIndex },
				};
				if (request.html) {
					const page = renderReportPage(report, { generatedAt: new Date(store.now()).toISOString() });
					const data = await this.helpers.prepareBinaryData(
						Buffer.from(page, 'utf8'),
						`journey-report-${report.from}-${report.to}.html`,
						'text/html',
					);
					item.binary = { report: data };
				}
				return { ok: true as const, value: item };
			} catch (error) {
				return { ok: false as const, error: error as Error };
			}
		}),
	);
	return results.map((result, itemIndex) => (result.ok ? result.value : errorItem(this, result.error, itemIndex)));
}
