/**
 * The one table of what one input may carry. Each limit is checked before anything is written and
 * refused with a ValidationError naming the field and the limit (the Marketing Webhook Trigger
 * answers 4xx, nodes name the item). docs/limits.md gives the reasons for each number.
 */
const DAY = 86_400_000;

export const LIMITS = {
	idLength: 256,
	emailLength: 254,
	fieldNameLength: 128,
	eventNameLength: 200,
	tagLength: 200,
	/** One field value, UTF-8 bytes (a value is also copied into its $field_changed event). */
	fieldValueBytes: 8 * 1024,
	/** Fields one change (one event, one item) sets or removes. */
	fieldsPerChange: 100,
	/** Fields one contact holds. */
	fieldsPerContact: 500,
	/** Tags one change adds, and removes. */
	tagsPerChange: 100,
	/** Tags one contact holds (each is also an index key of its shard). */
	tagsPerContact: 500,
	/** Event properties as JSON, UTF-8 bytes. */
	propertiesBytes: 64 * 1024,
	/** Objects and arrays nested in event properties. */
	propertiesDepth: 32,
	/** A request body at the Marketing Webhook Trigger. */
	bodyBytes: 1024 * 1024,
	/** Any date (fields, consent, events) lies within this many years of now. */
	dateYears: 200,
	/** An event (activity) may be dated at most this far ahead of now: clocks differ a little. */
	eventAheadMs: DAY,
};
