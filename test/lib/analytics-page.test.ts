// The report page as a person sees it: rendered by headless Chromium, charts checked, screenshot kept
// in test-output/analytics/ (CI keeps test-output as an artifact).
import { mkdirSync } from 'fs';
import { join } from 'path';
import { chromium, type Browser } from 'playwright-core';
import { renderReportPage, type AnalyticsReport, type CampaignAnalytics, type JourneyReport } from '../../lib';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../scripts/ensure-chromium.js');

const OUTPUT_DIR = join(__dirname, '..', '..', 'test-output', 'analytics');
const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

const days = Array.from({ length: 7 }, (_, i) => `2026-05-0${i + 1}`);

/** A campaign's report; a report has no daily row for a day without counts (`gapDays`, indexes in `days`). */
function campaign(
	campaignId: string,
	sentPerDay: number,
	complaintsPerDay: number,
	gapDays: number[] = [],
): CampaignAnalytics {
	const rows = days.map((date, i) => {
		const sent = sentPerDay + i * 40;
		const counts = {
			sent,
			delivered: Math.round(sent * 0.97),
			opened: Math.round(sent * (0.3 + i * 0.02)),
			clicked: Math.round(sent * 0.06),
			bounced: Math.round(sent * 0.01),
			complained: complaintsPerDay,
			unsubscribed: Math.round(sent * 0.002),
		};
		return { date, ...counts, rates: { delivery: 0, open: 0, click: 0, bounce: 0, complaint: 0, unsubscribe: 0 } };
	});
	const daily = rows.filter((_, i) => !gapDays.includes(i));
	const totals = { sent: 0, delivered: 0, opened: 0, clicked: 0, bounced: 0, complained: 0, unsubscribed: 0 };
	for (const d of daily) for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += d[k];
	const rate = (n: number) => n / totals.sent;
	return {
		campaignId,
		totals,
		rates: {
			delivery: rate(totals.delivered),
			open: rate(totals.opened),
			click: rate(totals.clicked),
			bounce: rate(totals.bounced),
			complaint: rate(totals.complained),
			unsubscribe: rate(totals.unsubscribed),
		},
		daily,
	};
}

function journey(journeyId: string, entered: number): JourneyReport {
	const totals = {
		entered,
		waiting: Math.round(entered * 0.4),
		exited: Math.round(entered * 0.6),
		goalReached: Math.round(entered * 0.12),
		sent: Math.round(entered * 0.95),
		delivered: Math.round(entered * 0.92),
		opened: Math.round(entered * 0.41),
		clicked: Math.round(entered * 0.09),
		bounced: Math.round(entered * 0.02),
		complained: 1,
		unsubscribed: 3,
	};
	return {
		journeyId,
		totals,
		conversionRate: totals.goalReached / entered,
		waitingAt: [{ step: 'Wait 3 days', count: totals.waiting }],
		daily: [],
	};
}

const report: AnalyticsReport = {
	from: days[0],
	to: days[6],
	days: 7,
	journeys: [journey('onboarding', 4200), journey(HOSTILE, 900)],
	// welcome-1 sent nothing on 2026-05-04: no row for that day.
	campaigns: [campaign('welcome-1', 1200, 1, [3]), campaign('win-back', 300, 1)],
};

let browser: Browser;
beforeAll(async () => {
	mkdirSync(OUTPUT_DIR, { recursive: true });
	browser = await chromium.launch({
		executablePath: ensureChromium(),
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
	});
}, 60_000);
afterAll(async () => {
	await browser?.close();
});

it('draws a funnel per journey, a daily line per campaign and the rates against the 0.3 % line, loading nothing', async () => {
	const page = await browser.newPage({ viewport: { width: 720, height: 900 } });
	const requests: string[] = [];
	page.on('request', (request) => {
		if (!request.url().startsWith('data:') && request.url() !== 'about:blank') requests.push(request.url());
	});
	try {
		await page.setContent(renderReportPage(report, { title: 'Weekly journey report' }), { waitUntil: 'load' });
		await page.screenshot({ path: join(OUTPUT_DIR, 'report.png'), fullPage: true });

		expect(await page.locator('svg.funnel').count()).toBe(2);
		expect(await page.locator('svg.funnel').first().locator('rect.stage').count()).toBe(6);
		expect(await page.locator('svg.daily').count()).toBe(2);
		expect(await page.locator('svg.daily').first().locator('polyline.line').count()).toBe(4);
		expect(await page.locator('line.gmail-limit').count()).toBe(1);
		// welcome-1: 6 complaints in 7,920 mails (0.08 %); win-back: 7 in 2,940 (0.24 %): both under the line.
		// Unsubscribes (0.2 %) too; the over-limit case is checked below.
		expect(await page.locator('rect.rate.over').count()).toBe(0);

		// A day without a row is drawn as 0, at its place in the range: every day of the range is a
		// point, evenly spaced, welcome-1's gap day on the zero line between days drawn above it.
		const zeroY = Number(await page.locator('svg.daily').first().locator('line.grid').first().getAttribute('y1'));
		for (const [index, svg] of (await page.locator('svg.daily').all()).entries()) {
			const points = ((await svg.locator('polyline[data-series="sent"]').getAttribute('points')) ?? '')
				.split(' ')
				.map((p) => p.split(',').map(Number));
			expect(points).toHaveLength(report.days);
			const step = points[1][0] - points[0][0];
			for (let i = 1; i < points.length; i++) expect(points[i][0] - points[i - 1][0]).toBeCloseTo(step, 0);
			for (const [i, [, y]] of points.entries()) {
				if (index === 0 && i === 3) expect(y).toBeCloseTo(zeroY, 1);
				else expect(y).toBeLessThan(zeroY);
			}
		}
		expect(await page.locator('svg.daily').first().locator('text', { hasText: report.to }).count()).toBe(1);

		// Bars really sit left of the dashed line when under it (geometry, as drawn).
		const limitX = Number(await page.locator('line.gmail-limit').getAttribute('x1'));
		for (const bar of await page.locator('rect.rate').all()) {
			const right = Number(await bar.getAttribute('x')) + Number(await bar.getAttribute('width'));
			expect(right).toBeLessThan(limitX);
		}

		// Names are text, never markup.
		expect(await page.locator('h2', { hasText: '<script>' }).count()).toBe(1);
		expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
		expect(await page.locator('body script, body img').count()).toBe(0);
		expect(requests).toEqual([]);
	} finally {
		await page.close();
	}
}, 60_000);

it('marks a campaign at or over the complaint limit', async () => {
	const page = await browser.newPage({ viewport: { width: 720, height: 600 } });
	try {
		const over = campaign('spam-trap', 100, 5);
		await page.setContent(renderReportPage({ ...report, journeys: [], campaigns: [over] }), { waitUntil: 'load' });
		await page.screenshot({ path: join(OUTPUT_DIR, 'over-limit.png'), fullPage: true });
		expect(await page.locator('rect.rate.over').count()).toBe(1);
		const limitX = Number(await page.locator('line.gmail-limit').getAttribute('x1'));
		const bar = page.locator('rect.rate.over');
		expect(Number(await bar.getAttribute('x')) + Number(await bar.getAttribute('width'))).toBeGreaterThan(limitX);
	} finally {
		await page.close();
	}
}, 60_000);

it('says so where a totals-only report has no daily rows to draw', async () => {
	const page = await browser.newPage({ viewport: { width: 720, height: 600 } });
	try {
		const { daily, ...totalsOnly } = campaign('welcome-1', 1200, 1);
		expect(daily).toHaveLength(7);
		await page.setContent(renderReportPage({ ...report, journeys: [], campaigns: [totalsOnly] }), {
			waitUntil: 'load',
		});
		expect(await page.locator('svg.daily').count()).toBe(0);
		expect(await page.locator('section.campaign', { hasText: 'Daily rows were left out' }).count()).toBe(1);
		expect(await page.locator('svg.rates').count()).toBe(1);
	} finally {
		await page.close();
	}
}, 60_000);
