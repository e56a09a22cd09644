/**
 * Runs tests as if the date were DATE_SHIFT_MS later (docs/development.md#dates-in-tests): a jest
 * setup file that shifts Date.now() and new Date() in the test's context. Timers and Redis's own
 * clock (TIME, stream ids, expiries) stay real.
 *
 *   DATE_SHIFT_MS=$(node -e 'console.log(Date.UTC(2028, 1, 29, 23, 58) - Date.now())') \
 *     npx jest test/nodes --setupFiles ./test/harness/shiftedDate.ts
 */
const shift = Number(process.env.DATE_SHIFT_MS ?? 0);
if (shift) {
	const RealDate = Date;
	class ShiftedDate extends RealDate {
		constructor(...args: unknown[]) {
			if (args.length === 0) super(RealDate.now() + shift);
			else super(...(args as [number]));
		}
		static now(): number {
			return RealDate.now() + shift;
		}
	}
	globalThis.Date = ShiftedDate as DateConstructor;
}
