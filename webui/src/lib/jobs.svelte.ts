/** The Jobs page's state: the user's jobs, newest first, with the running ones followed live. */

import type { Job, JobPage } from './api/types';
import { followJob, isActive, openEventSource, type OpenEventSource } from './jobs';
import { unseen } from './paging';

export interface JobsApi {
	list: (cursor?: string | null, limit?: number) => Promise<JobPage>;
	get: (id: string) => Promise<Job>;
	eventsUrl: (id: string) => string;
}

export class JobList {
	items = $state<Job[]>([]);
	nextCursor = $state<string | null>(null);
	/** False until the first page arrived. */
	loaded = $state(false);
	readonly #streams = new Map<string, () => void>();

	constructor(
		private readonly api: JobsApi,
		private readonly open: OpenEventSource = openEventSource,
		private readonly pageSize = 20
	) {}

	get running(): number {
		return this.items.filter(isActive).length;
	}

	/** The first page again (newer jobs appear); running jobs are followed. */
	async load(): Promise<void> {
		const page = await this.api.list(null, this.pageSize);
		this.items = page.items;
		this.nextCursor = page.next_cursor;
		this.loaded = true;
		this.#followActive();
	}

	/** The next (older) page, appended. */
	async more(): Promise<void> {
		if (!this.nextCursor) return;
		const page = await this.api.list(this.nextCursor, this.pageSize);
		this.items = [...this.items, ...unseen(this.items, page.items)];
		this.nextCursor = page.next_cursor;
		this.#followActive();
	}

	/** Put a newer state of a job in place. */
	update(job: Job): void {
		this.items = this.items.map((item) => (item.id === job.id ? job : item));
	}

	/** Stop every live stream (the page is left). */
	close(): void {
		for (const stop of this.#streams.values()) stop();
		this.#streams.clear();
	}

	#followActive(): void {
		for (const job of this.items) {
			if (!isActive(job) || this.#streams.has(job.id)) continue;
			const id = job.id;
			const stop = followJob(
				this.api.eventsUrl(id),
				{
					progress: (next) => this.update(next),
					done: (next) => {
						this.update(next);
						this.#streams.delete(id);
					},
					failed: () => {
						this.#streams.delete(id);
						// One plain read: shows the latest state, or lets a 401 send the user to sign in.
						this.api.get(id).then(
							(next) => this.update(next),
							() => {}
						);
					}
				},
				this.open
			);
			this.#streams.set(id, stop);
		}
	}
}
