import type { AnalyticsReport, CampaignAnalytics, JourneyReport } from './index';

/** Gmail's bulk sender guideline: keep the spam complaint rate under 0.3 % (and unsubscribes with it). */
export const GMAIL_COMPLAINT_LIMIT = 0.003;

/** n8n's UI palette (design system tokens), so the page looks at home next to the editor. */
const COLORS = {
	text: '#525356',
	heading: '#2d2e2e',
	muted: '#909399',
	border: '#dcdfe6',
	background: '#f5f5f5',
	card: '#ffffff',
	primary: '#ff6d5a',
	lines: ['#ff6d5a', '#5d76e2', '#29a568', '#f59e0b', '#8b5cf6'],
	danger: '#f45959',
	success: '#29a568',
};

const escapeHtml = (value: unknown) =>
	String(value).replace(
		/[&<>"']/g,
		(c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
	);

const percent = (rate: number, digits = 1) => `${(rate * 100).toFixed(digits)} %`;
const number = (n: number) => n.toLocaleString('en-US');

/** Funnel: each stage as a bar, its share of the contacts that entered. */
function funnel(journey: JourneyReport): string {
	const t = journey.totals;
	const stages: Array<[string, number]> = [
		['Entered', t.entered],
		['Sent', t.sent],
		['Delivered', t.delivered],
		['Opened', t.opened],
		['Clicked', t.clicked],
		['Goal reached', t.goalReached],
	];
	const top = Math.max(1, ...stages.map(([, n]) => n));
	const rowHeight = 34;
	const width = 560;
	const labelWidth = 110;
	const barSpace = width - labelWidth - 130;
	const rows = stages
		.map(([label, n], i) => {
			const w = Math.max(2, Math.round((n / top) * barSpace));
			const x = labelWidth + (barSpace - w) / 2;
			const y = i * rowHeight + 4;
			const share = t.entered > 0 ? ` (${percent(n / t.entered)})` : '';
			return (
				`<text x="0" y="${y + 19}" class="label">${escapeHtml(label)}</text>` +
				`<rect class="stage" x="${x}" y="${y}" width="${w}" height="${rowHeight - 8}" rx="4" fill="${COLORS.primary}" fill-opacity="${1 - i * 0.12}"/>` +
				`<text x="${labelWidth + barSpace + 10}" y="${y + 19}" class="value">${number(n)}${share}</text>`
			);
		})
		.join('');
	return `<svg class="funnel" role="img" aria-label="Funnel of journey ${escapeHtml(journey.journeyId)}" viewBox="0 0 ${width} ${stages.length * rowHeight + 8}" width="${width}">${rows}</svg>`;
}

const DAY = 86_400_000;

/**
 * Daily lines of a campaign over every day of the report: sent, delivered, opened, clicked. The
 * report has rows only for days with counts; a day without a row is drawn as 0.
 */
function dailyLines(campaign: CampaignAnalytics, report: AnalyticsReport): string {
	const daily = campaign.daily;
	if (!daily) return '<p class="muted">Daily rows were left out of this report.</p>';
	const first = Date.parse(report.from);
	const days = report.days;
	const series: Array<[string, number[]]> = (['sent', 'delivered', 'opened', 'clicked'] as const).map((m) => {
		const values = new Array<number>(days).fill(0);
		for (const row of daily) values[Math.round((Date.parse(row.date) - first) / DAY)] = row[m];
		return [m, values];
	});
	const width = 560;
	const height = 200;
	const left = 44;
	const bottom = 24;
	const top = Math.max(1, ...series.flatMap(([, v]) => v));
	const x = (i: number) => left + (days > 1 ? (i / (days - 1)) * (width - left - 10) : (width - left) / 2);
	const y = (n: number) => 10 + (1 - n / top) * (height - bottom - 10);
	const grid = [0, 0.5, 1]
		.map((f) => {
			const v = Math.round(top * f);
			return `<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${left - 6}" y="${y(v) + 4}" class="axis" text-anchor="end">${number(v)}</text>`;
		})
		.join('');
	const dateLabel = (i: number, date: string, anchor: 'start' | 'end') =>
		`<text x="${x(i)}" y="${height - 6}" class="axis" text-anchor="${anchor}">${escapeHtml(date)}</text>`;
	const dates = dateLabel(0, report.from, 'start') + (days > 1 ? dateLabel(days - 1, report.to, 'end') : '');
	const lines = series
		.map(
			([name, values], k) =>
				`<polyline class="line" data-series="${name}" fill="none" stroke="${COLORS.lines[k]}" stroke-width="2" points="${values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`,
		)
		.join('');
	const legend = series
		.map(([name], k) => `<span class="key"><i style="background:${COLORS.lines[k]}"></i>${name}</span>`)
		.join('');
	return `<svg class="daily" role="img" aria-label="Daily counts of campaign ${escapeHtml(campaign.campaignId)}" viewBox="0 0 ${width} ${height}" width="${width}">${grid}${dates}${lines}</svg><div class="legend">${legend}</div>`;
}

/** Unsubscribe and complaint rate of each campaign as bars, against Gmail's 0.3 % line. */
function rateChart(campaigns: CampaignAnalytics[]): string {
	const rows = campaigns.flatMap((c) => [
		{ label: `${c.campaignId} · unsubscribes`, rate: c.rates.unsubscribe },
		{ label: `${c.campaignId} · complaints`, rate: c.rates.complaint },
	]);
	const width = 560;
	const labelWidth = 220;
	const rowHeight = 26;
	const scale = Math.max(GMAIL_COMPLAINT_LIMIT * 2, ...rows.map((r) => r.rate * 1.1));
	const x = (rate: number) => labelWidth + (rate / scale) * (width - labelWidth - 60);
	const height = rows.length * rowHeight + 24;
	const bars = rows
		.map((r, i) => {
			const over = r.rate >= GMAIL_COMPLAINT_LIMIT;
			const y = i * rowHeight + 18;
			return (
				`<text x="${labelWidth - 8}" y="${y + 14}" class="label" text-anchor="end">${escapeHtml(r.label)}</text>` +
				`<rect class="rate${over ? ' over' : ''}" x="${labelWidth}" y="${y}" width="${Math.max(1, x(r.rate) - labelWidth)}" height="${rowHeight - 8}" rx="3" fill="${over ? COLORS.danger : COLORS.success}"/>` +
				`<text x="${x(r.rate) + 6}" y="${y + 14}" class="value">${percent(r.rate, 2)}</text>`
			);
		})
		.join('');
	const limitX = x(GMAIL_COMPLAINT_LIMIT);
	const limit = `<line class="gmail-limit" x1="${limitX}" x2="${limitX}" y1="12" y2="${height}" stroke="${COLORS.danger}" stroke-dasharray="4 3"/><text x="${limitX}" y="10" class="axis" text-anchor="middle">Gmail limit 0.3 %</text>`;
	return `<svg class="rates" role="img" aria-label="Unsubscribe and complaint rates against Gmail's 0.3 % limit" viewBox="0 0 ${width} ${height}" width="${width}">${bars}${limit}</svg>`;
}

function journeyCard(journey: JourneyReport): string {
	const t = journey.totals;
	const waiting =
		journey.waitingAt.length > 0
			? `<p class="muted">Waiting at: ${journey.waitingAt.map((w) => `${escapeHtml(w.step)} (${number(w.count)})`).join(', ')}</p>`
			: '';
	return `<section class="card journey"><h2>Journey ${escapeHtml(journey.journeyId)}</h2>
<div class="stats"><div><b>${number(t.entered)}</b>entered</div><div><b>${number(t.goalReached)}</b>goal reached</div><div><b>${percent(journey.conversionRate)}</b>conversion</div><div><b>${number(t.waiting)}</b>went to wait</div><div><b>${number(t.exited)}</b>exited</div></div>
${funnel(journey)}${waiting}</section>`;
}

function campaignCard(campaign: CampaignAnalytics, report: AnalyticsReport): string {
	const t = campaign.totals;
	const r = campaign.rates;
	return `<section class="card campaign"><h2>Campaign ${escapeHtml(campaign.campaignId)}</h2>
<div class="stats"><div><b>${number(t.sent)}</b>sent</div><div><b>${percent(r.open)}</b>opened</div><div><b>${percent(r.click)}</b>clicked</div><div><b>${percent(r.bounce, 2)}</b>bounced</div><div><b>${percent(r.unsubscribe, 2)}</b>unsubscribed</div><div><b>${percent(r.complaint, 2)}</b>complaints</div></div>
${dailyLines(campaign, report)}</section>`;
}

/**
 * The report as one self-contained HTML page: inline SVG charts and styles, no script and nothing
 * loaded from elsewhere (it is mailed, posted to Slack or opened offline). Every name is escaped.
 */
export function renderReportPage(
	report: AnalyticsReport,
	options: { title?: string; generatedAt?: string } = {},
): string {
	const title = options.title ?? 'Journey report';
	const body = [
		report.journeys.length > 0 ? report.journeys.map(journeyCard).join('\n') : '',
		report.campaigns.length > 0
			? `<section class="card"><h2>Unsubscribe and complaint rates</h2>${rateChart(report.campaigns)}<p class="muted">Gmail asks bulk senders to keep spam complaints under 0.3 %; a red bar is at or over it.</p></section>\n` +
				report.campaigns.map((campaign) => campaignCard(campaign, report)).join('\n')
			: '',
	].join('\n');
	const empty =
		report.journeys.length === 0 && report.campaigns.length === 0
			? '<section class="card"><p>No journey or campaign counted anything in this range.</p></section>'
			: '';
	return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>
body{margin:0;padding:24px;background:${COLORS.background};color:${COLORS.text};font:14px/1.5 "Open Sans",-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
header{margin:0 auto 16px;max-width:640px}h1{margin:0;color:${COLORS.heading};font-size:20px;font-weight:600}
.card{max-width:600px;margin:0 auto 16px;padding:16px 20px;background:${COLORS.card};border:1px solid ${COLORS.border};border-radius:8px}
h2{margin:0 0 12px;color:${COLORS.heading};font-size:16px;font-weight:600;word-break:break-all}
.stats{display:flex;flex-wrap:wrap;gap:8px 20px;margin-bottom:12px}.stats div{display:flex;flex-direction:column;font-size:12px;color:${COLORS.muted}}
.stats b{font-size:18px;color:${COLORS.heading};font-weight:600}
svg{max-width:100%;height:auto;display:block}svg text{font:12px "Open Sans",Helvetica,Arial,sans-serif;fill:${COLORS.text}}
svg .axis{fill:${COLORS.muted};font-size:11px}svg .grid{stroke:${COLORS.border}}
.legend{display:flex;gap:16px;font-size:12px;margin-top:6px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.muted{color:${COLORS.muted};font-size:12px}
</style></head>
<body><header><h1>${escapeHtml(title)}</h1><p class="muted">${escapeHtml(report.from)} to ${escapeHtml(report.to)} (UTC, ${report.days} days)${options.generatedAt ? ` · generated ${escapeHtml(options.generatedAt)}` : ''}</p></header>
${body}${empty}
</body></html>
`;
}
