/** Sensitive account changes answer 403 `reauth-required` until the password is confirmed again. */

import { ApiError } from './api/problem';

export function needsReauth(error: unknown): boolean {
	return error instanceof ApiError && error.code === 'reauth-required';
}
