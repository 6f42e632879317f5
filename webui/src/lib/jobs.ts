/**
 * Background jobs in words, and following one live: the API streams a job's progress as server-sent
 * events (`progress` with the job, then `done`), read here with the browser's EventSource.
 */

import type { ImportJob, Job } from './api/types';

/** What {@link followJob} needs of an EventSource (the browser's, or a fake in tests). */
export interface JobEventSource {
	readonly readyState: number;
	addEventListener(type: string, listener: (event: MessageEvent) => void): void;
	close(): void;
}

export type OpenEventSource = (url: string) => JobEventSource;

export interface FollowHandlers {
	progress: (job: Job) => void;
	done: (job: Job) => void;
	/** The stream could not be opened or was refused (the job is gone, the session ended, no EventSource). */
	failed?: () => void;
}

const CLOSED = 2;

export const openEventSource: OpenEventSource = (url) => new EventSource(url, { withCredentials: true });

function parse(event: MessageEvent): Job | null {
	try {
		const job = JSON.parse(String(event.data)) as Job;
		return job && typeof job === 'object' && typeof job.id === 'string' ? job : null;
	} catch {
		return null;
	}
}

/**
 * Follow the job whose event stream is at `url` until it is done; returns a function that stops.
 *
 * The browser reconnects by itself when a stream ends early (the server caps its length, a proxy
 * restarts); only a refused stream (404, 401) closes it for good, which is reported as `failed`.
 */
export function followJob(url: string, handlers: FollowHandlers, open: OpenEventSource = openEventSource): () => void {
	let source: JobEventSource;
	try {
		source = open(url);
	} catch {
		queueMicrotask(() => handlers.failed?.());
		return () => {};
	}
	let finished = false;
	const stop = () => {
		finished = true;
		source.close();
	};
	source.addEventListener('progress', (event) => {
		const job = parse(event);
		if (job && !finished) handlers.progress(job);
	});
	source.addEventListener('done', (event) => {
		const job = parse(event);
		if (finished) return;
		stop();
		if (job) handlers.done(job);
	});
	source.addEventListener('error', () => {
		if (!finished && source.readyState === CLOSED) {
			finished = true;
			handlers.failed?.();
		}
	});
	return stop;
}

export function isActive(job: Pick<Job, 'status'>): boolean {
	return job.status === 'pending' || job.status === 'running';
}

const STATUS_LABELS: Record<Job['status'], string> = {
	pending: 'Waiting',
	running: 'Running',
	succeeded: 'Done',
	failed: 'Failed'
};

export function statusLabel(job: Pick<Job, 'status'>): string {
	return STATUS_LABELS[job.status] ?? job.status;
}

function count(n: number, word: string): string {
	return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}

/** One line about where the job stands, e.g. `600 of 1,200 events` or `Imported 3 events: 2 new, 1 updated.` */
export function jobSummary(job: Job): string {
	if (job.status === 'failed') return job.error ?? 'The job failed.';
	if (job.kind === 'calendar_import') {
		if (job.status === 'succeeded') {
			const created = Number(job.result.created ?? 0);
			const updated = Number(job.result.updated ?? 0);
			return `Imported ${count(job.total, 'event')}: ${created.toLocaleString('en')} new, ${updated.toLocaleString('en')} updated.`;
		}
		if (job.status === 'pending') return 'Waiting for a worker…';
		return job.total ? `${job.processed.toLocaleString('en')} of ${count(job.total, 'event')}` : 'Reading the file…';
	}
	if (job.status === 'succeeded') return 'Finished.';
	return job.total ? `${job.processed.toLocaleString('en')} of ${job.total.toLocaleString('en')}` : 'Working…';
}

/** An import as the calendar API returns it, in the jobs API's shape (a small import never becomes a job). */
export function importAsJob(job: ImportJob, calendarName: string): Job {
	const finished = job.status === 'succeeded' || job.status === 'failed';
	return {
		id: job.id,
		kind: 'calendar_import',
		status: job.status,
		title: `Import into “${calendarName}”`,
		processed: job.processed,
		total: job.total,
		percent: job.status === 'succeeded' ? 100 : job.total > 0 ? Math.floor((job.processed * 100) / job.total) : null,
		error: job.error,
		result: { created: job.created, updated: job.updated, size_bytes: job.size_bytes },
		calendar_id: job.calendar_id,
		created_at: job.created_at,
		finished_at: finished ? job.finished_at : null
	};
}
