/** Where a failed request's message goes on a form: next to its field, or above the form. */

import { ApiError, NetworkError } from './api/problem';

export function errorMessage(error: unknown): string {
	if (error instanceof ApiError || error instanceof NetworkError) return error.message;
	return 'Something went wrong in this page. Reload it and try again.';
}

/**
 * `{field, message}` for `error` on a form with `fields`; `aliases` maps API field names onto the
 * form's where the two differ. `field` is null when the message belongs above the form.
 */
export function placeError(
	error: unknown,
	fields: readonly string[],
	aliases: Record<string, string> = {}
): { field: string | null; message: string } {
	const message = errorMessage(error);
	if (error instanceof ApiError && error.field) {
		const field = aliases[error.field] ?? error.field;
		if (fields.includes(field)) return { field, message };
	}
	return { field: null, message };
}
