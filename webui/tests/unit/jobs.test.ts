import { describe, expect, it, vi } from 'vitest';
import type { ImportJob, Job, JobPage } from '../../src/lib/api/types';
import { followJob, importAsJob, isActive, jobSummary, statusLabel, type JobEventSource } from '../../src/lib/jobs';
import { JobList } from '../../src/lib/jobs.svelte';

/** A stand-in for the browser's EventSource that the test drives. */
class FakeSource implements JobEventSource {
	readyState = 0;
	closed = false;
	readonly listeners = new Map<string, ((event: MessageEvent) => void)[]>();

	constructor(readonly url: string) {}

	addEventListener(type: string, listener: (event: MessageEvent) => void): void {
		this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
	}

	close(): void {
		this.closed = true;
		this.readyState = 2;
	}

	emit(type: string, data?: unknown): void {
		const event = new MessageEvent(type, { data: data === undefined ? undefined : JSON.stringify(data) });
		for (const listener of this.listeners.get(type) ?? []) listener(event);
	}
}

function job(overrides: Partial<Job> = {}): Job {
	return {
		id: 'j1',
		kind: 'calendar_import',
		status: 'running',
		title: 'Import into “Work”',
		processed: 0,
		total: 0,
		percent: null,
		error: null,
		result: { created: 0, updated: 0 },
		calendar_id: 'c1',
		created_at: '2026-11-28T10:00:00Z',
		finished_at: null,
		...overrides
	};
}

function opener() {
	const opened: FakeSource[] = [];
	const open = (url: string) => {
		const source = new FakeSource(url);
		opened.push(source);
		return source;
	};
	return { opened, open };
}

describe('followJob', () => {
	it('reports each progress event, then done, and closes the stream', () => {
		const { opened, open } = opener();
		const progress = vi.fn();
		const done = vi.fn();
		followJob('/api/v1/jobs/j1/events', { progress, done }, open);
		const source = opened[0];
		expect(source.url).toBe('/api/v1/jobs/j1/events');
		source.emit('progress', job({ processed: 500, total: 1000, percent: 50 }));
		source.emit('done', job({ status: 'succeeded', processed: 1000, total: 1000, percent: 100 }));
		expect(progress).toHaveBeenCalledWith(expect.objectContaining({ percent: 50 }));
		expect(done).toHaveBeenCalledWith(expect.objectContaining({ status: 'succeeded' }));
		expect(source.closed).toBe(true);
	});

	it('ignores what comes after it was stopped, and unreadable data', () => {
		const { opened, open } = opener();
		const progress = vi.fn();
		const stop = followJob('/x', { progress, done: vi.fn() }, open);
		opened[0].listeners.get('progress')?.[0](new MessageEvent('progress', { data: 'not json' }));
		stop();
		opened[0].emit('progress', job());
		expect(progress).not.toHaveBeenCalled();
		expect(opened[0].closed).toBe(true);
	});

	it('lets the browser reconnect after a dropped stream, but reports a refused one', () => {
		const { opened, open } = opener();
		const failed = vi.fn();
		followJob('/x', { progress: vi.fn(), done: vi.fn(), failed }, open);
		opened[0].readyState = 0; // reconnecting
		opened[0].emit('error');
		expect(failed).not.toHaveBeenCalled();
		opened[0].readyState = 2; // closed for good (404, 401)
		opened[0].emit('error');
		expect(failed).toHaveBeenCalledTimes(1);
	});

	it('reports failure when no stream can be opened at all', async () => {
		const failed = vi.fn();
		followJob('/x', { progress: vi.fn(), done: vi.fn(), failed }, () => {
			throw new ReferenceError('EventSource is not defined');
		});
		await Promise.resolve();
		expect(failed).toHaveBeenCalledTimes(1);
	});
});

describe('job words', () => {
	it('says where an import stands', () => {
		expect(jobSummary(job({ status: 'pending' }))).toBe('Waiting for a worker…');
		expect(jobSummary(job())).toBe('Reading the file…');
		expect(jobSummary(job({ processed: 500, total: 1200 }))).toBe('500 of 1,200 events');
		expect(jobSummary(job({ status: 'succeeded', total: 1500, result: { created: 1500, updated: 0 } }))).toBe(
			'Imported 1,500 events: 1,500 new, 0 updated.'
		);
		expect(jobSummary(job({ status: 'succeeded', total: 1, result: { created: 0, updated: 1 } }))).toBe(
			'Imported 1 event: 0 new, 1 updated.'
		);
		expect(jobSummary(job({ status: 'failed', error: 'line 4: bad date' }))).toBe('line 4: bad date');
	});

	it('labels statuses and knows which are still going', () => {
		expect(statusLabel(job({ status: 'succeeded' }))).toBe('Done');
		expect(isActive(job({ status: 'pending' }))).toBe(true);
		expect(isActive(job({ status: 'failed' }))).toBe(false);
	});

	it('turns an import of the calendar API into a job', () => {
		const started: ImportJob = {
			id: 'i1',
			calendar_id: 'c1',
			status: 'running',
			size_bytes: 300_000,
			total: 400,
			processed: 100,
			created: 0,
			updated: 0,
			error: null,
			created_at: '2026-11-28T10:00:00Z',
			finished_at: null
		};
		const converted = importAsJob(started, 'Work');
		expect(converted).toMatchObject({ id: 'i1', kind: 'calendar_import', percent: 25, title: 'Import into “Work”' });
		expect(importAsJob({ ...started, status: 'succeeded' }, 'Work').percent).toBe(100);
		expect(importAsJob({ ...started, total: 0 }, 'Work').percent).toBeNull();
	});
});

describe('JobList', () => {
	function fakeApi(pages: JobPage[], latest?: Job) {
		return {
			list: vi.fn(async (cursor?: string | null) => pages[cursor ? Number(cursor) : 0]),
			get: vi.fn(async () => latest ?? job()),
			eventsUrl: (id: string) => `/api/v1/jobs/${id}/events`
		};
	}

	it('loads the first page and follows only the running jobs', async () => {
		const { opened, open } = opener();
		const api = fakeApi([{ items: [job({ id: 'a' }), job({ id: 'b', status: 'succeeded' })], next_cursor: null }]);
		const list = new JobList(api, open);
		await list.load();
		expect(list.loaded).toBe(true);
		expect(list.running).toBe(1);
		expect(opened.map((s) => s.url)).toEqual(['/api/v1/jobs/a/events']);
		opened[0].emit('progress', job({ id: 'a', processed: 3, total: 4, percent: 75 }));
		expect(list.items[0].percent).toBe(75);
		opened[0].emit('done', job({ id: 'a', status: 'succeeded', percent: 100 }));
		expect(list.running).toBe(0);
		expect(opened[0].closed).toBe(true);
	});

	it('appends older pages without repeating a job', async () => {
		const api = fakeApi([
			{ items: [job({ id: 'a', status: 'failed' })], next_cursor: '1' },
			{ items: [job({ id: 'a', status: 'failed' }), job({ id: 'b', status: 'failed' })], next_cursor: null }
		]);
		const list = new JobList(api, opener().open);
		await list.load();
		await list.more();
		expect(list.items.map((j) => j.id)).toEqual(['a', 'b']);
		expect(list.nextCursor).toBeNull();
		expect(api.list).toHaveBeenLastCalledWith('1', 20);
	});

	it('reads the job once when its stream is refused, and stops every stream on close', async () => {
		const { opened, open } = opener();
		const api = fakeApi(
			[{ items: [job({ id: 'a' }), job({ id: 'b' })], next_cursor: null }],
			job({ id: 'a', status: 'failed', error: 'gone' })
		);
		const list = new JobList(api, open);
		await list.load();
		opened[0].readyState = 2;
		opened[0].emit('error');
		await vi.waitFor(() => expect(list.items[0].status).toBe('failed'));
		expect(api.get).toHaveBeenCalledWith('a');
		list.close();
		expect(opened[1].closed).toBe(true);
	});
});
