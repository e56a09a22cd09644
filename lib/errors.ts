/** Input that cannot be stored as given. `field` names the offending input so callers can point at it. */
export class ValidationError extends Error {
	constructor(
		readonly field: string,
		message: string,
		readonly hint?: string,
	) {
		super(message);
		this.name = 'ValidationError';
	}
}

/** A contact, campaign or other record that the operation needs does not exist. */
export class NotFoundError extends Error {
	constructor(
		readonly field: string,
		message: string,
	) {
		super(message);
		this.name = 'NotFoundError';
	}
}

/** Two contacts claim the same unique value (e-mail address). */
export class ConflictError extends Error {
	constructor(
		readonly field: string,
		message: string,
	) {
		super(message);
		this.name = 'ConflictError';
	}
}

/** Redis could not be reached or answered with an error that is not about the input. */
export class StoreUnavailableError extends Error {
	constructor(
		message: string,
		readonly cause?: unknown,
	) {
		super(message);
		this.name = 'StoreUnavailableError';
	}
}

/**
 * Redis refused the credential's user: wrong user name or password, or a command or keys its ACL
 * does not allow. Not a passing outage: retrying fails the same way until the user or the
 * credential is changed, as `hint` says.
 */
export class StoreAccessError extends Error {
	constructor(
		message: string,
		readonly hint: string,
		/** What Redis refused: the user's login, a command, or keys outside the user's key patterns. */
		readonly refused: 'login' | 'command' | 'keys',
		/** The refused command, as in ACL rules ("xadd", "xgroup|create"), when Redis named it. */
		readonly command?: string,
		readonly cause?: unknown,
	) {
		super(message);
		this.name = 'StoreAccessError';
	}
}

/** The store holds data of a format this version cannot read (written by a newer version). */
export class StoreFormatError extends Error {
	constructor(
		message: string,
		readonly hint: string,
	) {
		super(message);
		this.name = 'StoreFormatError';
	}
}
