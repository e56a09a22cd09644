/**
 * The preference centre behind a mail's unsubscribe link: the workspace's topics as checkboxes
 * and "unsubscribe from everything", two plain HTML forms posting back to the same signed URL
 * (no script: the page's CSP allows none). What the forms post, and how the handler reads it.
 */
import type { Topic, TopicState } from '../topics';
import { parseJson } from '../values';

/** The `action` of a form post of the page. */
export const PREFERENCE_ACTIONS = { save: 'save-topics', everything: 'unsubscribe-all' } as const;

export function escapeHtml(value: string): string {
	return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * What a form of the page posted, or null for any other body. The form is form-urlencoded; a form
 * n8n parsed without keeping its bytes reaches the handler as its JSON ({action, topic}).
 */
export function readPreferencePost(
	body: string,
): { action: 'save'; topics: string[] } | { action: 'everything' } | null {
	const text = body.slice(0, 10_000).trim();
	const form = new URLSearchParams(text);
	let action: unknown = form.get('action');
	let topics: unknown[] = form.getAll('topic');
	if (action === null) {
		const parsed = parseJson(text);
		const json =
			parsed.ok && parsed.value && typeof parsed.value === 'object' ? (parsed.value as Record<string, unknown>) : {};
		action = json.action;
		topics = json.topic === undefined ? [] : ([] as unknown[]).concat(json.topic);
	}
	if (action === PREFERENCE_ACTIONS.everything) return { action: 'everything' };
	if (action === PREFERENCE_ACTIONS.save) return { action: 'save', topics: topics.map(String) };
	return null;
}

/**
 * The forms: one checkbox per declared topic, ticked unless the contact unsubscribed from it (a
 * contact who never chose gets every topic), and the "everything" form, always there.
 */
export function preferenceForms(topics: Topic[], states: Record<string, TopicState>): string {
	const everything = `<form method="post"><input type="hidden" name="action" value="${PREFERENCE_ACTIONS.everything}"><button type="submit" id="unsubscribe-all">Unsubscribe from everything</button></form>`;
	if (topics.length === 0) return everything;
	const boxes = topics
		.map((t, i) => {
			const checked = states[t.name] === 'unsubscribed' ? '' : ' checked';
			const description = t.description ? `<br><small>${escapeHtml(t.description)}</small>` : '';
			return `<p><label><input type="checkbox" name="topic" value="${escapeHtml(t.name)}" id="topic-${i}"${checked}> ${escapeHtml(t.label)}</label>${description}</p>`;
		})
		.join('');
	return `<form method="post"><input type="hidden" name="action" value="${PREFERENCE_ACTIONS.save}"><fieldset><legend>The e-mails you want</legend>${boxes}</fieldset><p><button type="submit" id="save-topics">Save my choices</button></p></form><p>Or stop all our e-mails:</p>${everything}`;
}
