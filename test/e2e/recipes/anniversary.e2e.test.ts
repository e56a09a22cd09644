/**
 * Recipe 2: the first `order_completed` stores `firstPurchaseAt` (later orders leave it), and every
 * year on its anniversary, at the trigger's local hour, the customer is thanked. As the sticky note
 * says, the trigger's Local Hour / Minute are set to the next minute (UTC: the contacts have no zone).
 */
import {
	contactOf,
	editAndRepublish,
	expectNoFailedExecutions,
	mails,
	record,
	siteEvent,
	sleep,
	subscribe,
	uid,
	waitFor,
	waitForMails,
	workflow,
} from '../support/env';
import { anniversaryYears, yearsAgo } from '../support/dates';

const email = (id: string) => `${id}@example.com`;
describe('recipe 2: customer anniversary', () => {
	it('stores the first purchase date once; thanks the customer on its anniversary at the local hour, no one else', async () => {
		const wf = workflow('02-customer-anniversary');
		const target = Math.ceil((Date.now() + 40000) / 60000) * 60000;
		const at = new Date(target);
		await editAndRepublish(wf, (nodes) => {
			const trigger = nodes.find((n) => n.name === 'On First-Purchase Anniversary')!;
			trigger.parameters.hour = at.getUTCHours();
			trigger.parameters.minute = at.getUTCMinutes();
		});
		const [yearAgo, recent, dayOff] = ['anni-year', 'anni-recent', 'anni-dayoff'].map(uid);
		await subscribe(wf, [yearAgo, recent, dayOff]);
		// A year ago to the day (then a new order now), today (not a year yet), a year and a day ago.
		const years = anniversaryYears(target);
		await record(wf, [
			siteEvent(
				yearAgo,
				'order_completed',
				{ total: 30 },
				{ time: yearsAgo(target, years), fields: { firstName: 'Ann' } },
			),
			siteEvent(recent, 'order_completed', { total: 10 }),
			siteEvent(dayOff, 'order_completed', { total: 20 }, { time: yearsAgo(target, years, 1) }),
		]);
		const firstPurchase = async (id: string) => (await contactOf(wf, id))?.fields.firstPurchaseAt;
		await waitFor('first purchases stored', async () => (await firstPurchase(dayOff)) !== undefined);
		await record(wf, [siteEvent(yearAgo, 'order_completed', { total: 45 })]);
		await sleep(2000);
		expect(new Date(String(await firstPurchase(yearAgo))).toISOString()).toBe(yearsAgo(target, years));
		expect(await firstPurchase(recent)).toBeDefined();
		// Not before the minute comes.
		await sleep(Math.max(0, target - Date.now() - 3000));
		expect(await mails(email(yearAgo))).toHaveLength(0);
		const [mail] = await waitForMails(email(yearAgo), 1, { wf, timeoutMs: 90000 });
		expect(mail.parsed.subject).toBe('One more year together, Ann: thank you!');
		expect(mail.parsed.date!.getTime()).toBeGreaterThanOrEqual(target - 1000);
		await sleep(3000);
		expect(await mails(email(recent))).toHaveLength(0);
		expect(await mails(email(dayOff))).toHaveLength(0);
		expect(await mails(email(yearAgo))).toHaveLength(1);
		await expectNoFailedExecutions(wf);
	}, 240000);
});
