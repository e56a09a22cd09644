/**
 * The promise's outcome, or a rejection with `expired()` once `ms` have passed, whichever comes
 * first. The promise itself runs on: this only stops waiting for it.
 */
export function settleWithin<T>(promise: Promise<T>, ms: number, expired: () => Error): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(expired()), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
