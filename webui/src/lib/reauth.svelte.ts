/**
 * Sensitive account changes answer 403 `reauth-required` until the password is confirmed again: a page
 * asks for it (ReauthPrompt) and then repeats the step that was refused.
 */

import { ApiError } from './api/problem';

export function needsReauth(error: unknown): boolean {
	return error instanceof ApiError && error.code === 'reauth-required';
}

/** The step waiting for the password to be confirmed again; a page shows ReauthPrompt while there is one. */
export class PendingReauth {
	retry = $state<(() => Promise<void>) | null>(null);

	/** `action`, or `undefined` when it needs the password again: then `retry` waits for {@link confirmed}. */
	guard<T>(action: () => Promise<T>, retry: () => Promise<void>): () => Promise<T | undefined> {
		return async () => {
			try {
				return await action();
			} catch (error) {
				if (!needsReauth(error)) throw error;
				this.retry = retry;
				return undefined;
			}
		};
	}

	/** The password was confirmed: run the waiting step once. */
	async confirmed(): Promise<void> {
		const retry = this.retry;
		this.retry = null;
		await retry?.();
	}

	cancel(): void {
		this.retry = null;
	}
}
