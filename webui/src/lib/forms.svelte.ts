/** A form's busy flag and its errors, filled from a failed request by {@link placeError}. */

import { placeError } from './forms';

export class FormState {
	busy = $state(false);
	error = $state<string | null>(null);
	fields = $state<Record<string, string | undefined>>({});

	constructor(
		private readonly names: readonly string[] = [],
		private readonly aliases: Record<string, string> = {}
	) {}

	reset(): void {
		this.error = null;
		this.fields = {};
	}

	fail(error: unknown): void {
		const placed = placeError(error, this.names, this.aliases);
		if (placed.field) this.fields = { [placed.field]: placed.message };
		else this.error = placed.message;
	}

	/** Run `action` with the form busy; a failure is shown and `undefined` returned. */
	async run<T>(action: () => Promise<T>): Promise<T | undefined> {
		this.busy = true;
		this.reset();
		try {
			return await action();
		} catch (error) {
			this.fail(error);
			return undefined;
		} finally {
			this.busy = false;
		}
	}
}
