/**
 * Decay of awarded points, computed at read time so no job has to run. Each award is stored with
 * its time and its own decay ("points|mode|periodMs", mode n = none, x = expire, h = half-life);
 * the score at an instant is the sum of the awards' values at that instant. The Lua scoring
 * script computes the same sum (lib/redis/lua/award_value.lua); test/lib/parity.test.ts holds them equal.
 */
import { ValidationError } from '../errors';

export type DecayMode = 'none' | 'expire' | 'halfLife';

export interface Decay {
	mode: DecayMode;
	/** Expire after / halve every this many days. */
	days?: number;
}

const DAY = 86_400_000;
/**
 * The mode's letter in the stored form. The Lua scoring script gets these as `DECAY_MODE`, and
 * HALF_LIVES_KEPT, from the helper "decay" that scripts/build-lua.js writes from this file.
 */
export const DECAY_MODE_CODES: Readonly<Record<DecayMode, string>> = { none: 'n', expire: 'x', halfLife: 'h' };
/** A halving award older than this many half-lives (worth under a millionth) is dropped by the scoring script. */
export const HALF_LIVES_KEPT = 20;

/**
 * How an award key starts: its kind, which says how often the rule may award. Once-per-contact and
 * field awards are never pruned (their key keeps them from being given again). Lua gets them as AWARD.
 */
export const AWARD_KEY_KINDS = { oncePerContact: 'o:', oncePerDay: 'd:', everyEvent: 'e:', field: 'f:' } as const;

export function checkDecay(decay: Decay | undefined, field = 'decay'): Decay {
	if (decay === undefined || decay === null) return { mode: 'none' };
	if (!(decay.mode in DECAY_MODE_CODES))
		throw new ValidationError(
			`${field}.mode`,
			`"${String(decay.mode)}" is not a decay mode`,
			'Use none, expire or halfLife.',
		);
	if (decay.mode === 'none') return { mode: 'none' };
	const days = Number(decay.days);
	if (!Number.isFinite(days) || days <= 0 || days > 36_500) {
		throw new ValidationError(
			`${field}.days`,
			`Decay days must be a number above 0 (up to 36500), got ${JSON.stringify(decay.days)}`,
		);
	}
	return { mode: decay.mode, days };
}

/** The stored form of one award's points and decay. */
export function encodeAward(points: number, decay: Decay): string {
	const period = decay.mode === 'none' ? 0 : Math.round((decay.days as number) * DAY);
	return `${points}|${DECAY_MODE_CODES[decay.mode]}|${period}`;
}

export interface AwardValue {
	value: number;
	/** The most the award can be worth from now on (positive points only decay down). */
	ceiling: number;
	/** The least it can be worth from now on (negative points only decay up to 0). */
	floor: number;
}

/** Value of one award at `now`: expired at exactly at + period; halved every period. */
export function awardValue(encoded: string, at: number, now: number): AwardValue {
	const [rawPoints, mode, rawPeriod] = encoded.split('|');
	const points = Number(rawPoints);
	const period = Number(rawPeriod);
	if (mode === DECAY_MODE_CODES.expire) {
		const value = now < at + period ? points : 0;
		return { value, ceiling: Math.max(value, 0), floor: Math.min(value, 0) };
	}
	if (mode === DECAY_MODE_CODES.halfLife) {
		const value = points * Math.pow(0.5, Math.max(now - at, 0) / period);
		return { value, ceiling: Math.max(value, 0), floor: Math.min(value, 0) };
	}
	return { value: points, ceiling: points, floor: points };
}

export function roundScore(value: number): number {
	const rounded = Math.floor(value * 100 + 0.5) / 100;
	return rounded === 0 ? 0 : rounded;
}

export interface ScoreSnapshot {
	score: number;
	ceiling: number;
	floor: number;
}

/**
 * The score from a contact's awards (ZRANGE WITHSCORES order: [key, at, key, at, ...]) and their
 * encoded values (HGETALL), including folded old points ("~base").
 */
export function computeScore(entries: string[], values: Record<string, string>, now: number): ScoreSnapshot {
	const base = Number(values['~base'] ?? 0);
	let score = base;
	let ceiling = base;
	let floor = base;
	for (let i = 0; i < entries.length; i += 2) {
		const encoded = values[entries[i]];
		if (encoded === undefined) continue;
		const v = awardValue(encoded, Number(entries[i + 1]), now);
		score += v.value;
		ceiling += v.ceiling;
		floor += v.floor;
	}
	return { score: roundScore(score), ceiling: roundScore(ceiling), floor: roundScore(floor) };
}

/** A contact's running sums in a score model (`~cache` of its values hash, apply_score.lua load). */
export interface ScoreCache {
	sum: number;
	ceiling: number;
	floor: number;
	awards: number;
	/** When an award next expires or a halving one is worth pruning; null for never. */
	nextExpiry: number | null;
	/** The half-life of the halving awards, the instant their sums were written and the sums; null without. */
	halfLife: number | null;
	halvedAt: number | null;
	halvingPositive: number;
	halvingNegative: number;
}

const CACHE_FIELDS = [
	'sum',
	'ceiling',
	'floor',
	'awards',
	'nextExpiry',
	'halfLife',
	'halvedAt',
	'halvingPositive',
	'halvingNegative',
] as const;

/** Byte size and reader of each MessagePack number type cmsgpack writes. */
const MSGPACK_NUMBERS: Record<number, [number, (b: Buffer, at: number) => number]> = {
	0xcc: [1, (b, at) => b.readUInt8(at)],
	0xcd: [2, (b, at) => b.readUInt16BE(at)],
	0xce: [4, (b, at) => b.readUInt32BE(at)],
	0xcf: [8, (b, at) => Number(b.readBigUInt64BE(at))],
	0xd0: [1, (b, at) => b.readInt8(at)],
	0xd1: [2, (b, at) => b.readInt16BE(at)],
	0xd2: [4, (b, at) => b.readInt32BE(at)],
	0xd3: [8, (b, at) => Number(b.readBigInt64BE(at))],
	0xca: [4, (b, at) => b.readFloatBE(at)],
	0xcb: [8, (b, at) => b.readDoubleBE(at)],
};

/**
 * Reads `~cache` as apply_score.lua writes it: MessagePack, `true` then the nine values (nil for
 * none), or the text of format 3 ("|"-joined, "-" for none). Only the types it writes are read.
 */
export function decodeScoreCache(stored: Buffer): ScoreCache {
	const values: Array<number | null> = [];
	if (stored[0] !== 0xc3) {
		for (const part of stored.toString('latin1').split('|')) values.push(part === '-' ? null : Number(part));
	} else {
		let at = 1;
		while (at < stored.length) {
			const type = stored[at++];
			if (type <= 0x7f) values.push(type);
			else if (type >= 0xe0) values.push(type - 0x100);
			else if (type === 0xc0) values.push(null);
			else {
				const [size, read] = MSGPACK_NUMBERS[type] ?? [];
				if (!read) throw new Error(`~cache: MessagePack type 0x${type.toString(16)} not expected`);
				values.push(read(stored, at));
				at += size;
			}
		}
	}
	if (values.length !== CACHE_FIELDS.length) throw new Error(`~cache holds ${values.length} values, not 9`);
	return Object.fromEntries(CACHE_FIELDS.map((field, i) => [field, values[i]])) as unknown as ScoreCache;
}
