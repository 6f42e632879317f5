import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Occurrence } from '../../src/lib/api/types';
import { deleteOccurrence, saveOccurrence } from '../../src/lib/eventSave';

const occurrence: Occurrence = {
	id: 'e1@20260511T093000',
	event_id: 'e1',
	override_id: null,
	calendar_id: 'c1',
	uid: 'u1',
	recurrence_id: '20260511T093000',
	recurring: true,
	summary: 'Stand-up',
	description: '',
	location: '',
	all_day: false,
	start: { date_time: '2026-05-11T09:30:00+02:00', time_zone: 'Europe/Berlin' },
	end: { date_time: '2026-05-11T10:00:00+02:00', time_zone: 'Europe/Berlin' },
	status: 'confirmed',
	transparency: 'opaque',
	etag: 'x'
};

function stubFetch() {
	const calls: { url: string; method: string; body: unknown }[] = [];
	vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
		calls.push({ url, method: init.method ?? 'GET', body: init.body ? JSON.parse(String(init.body)) : undefined });
		if ((init.method ?? 'GET') === 'GET') {
			// The series starts a week before the occurrence being moved.
			return Response.json({
				...occurrence,
				id: 'e1',
				rrule: 'FREQ=WEEKLY',
				start: { date_time: '2026-05-04T09:30:00+02:00', time_zone: 'Europe/Berlin' },
				end: { date_time: '2026-05-04T10:00:00+02:00', time_zone: 'Europe/Berlin' }
			});
		}
		return new Response(null, { status: 204 });
	});
	return calls;
}

afterEach(() => vi.unstubAllGlobals());

const moved = { fromStart: '2026-05-11T09:30:00', start: '2026-05-11T11:00:00', end: '2026-05-11T11:45:00', allDay: false };

describe('saveOccurrence', () => {
	it('edits one occurrence with its recurrence id and never sends a rule', async () => {
		const calls = stubFetch();
		await saveOccurrence(occurrence, 'occurrence', 'Europe/Berlin', { summary: 'x', rrule: 'FREQ=DAILY' }, moved);
		expect(calls).toHaveLength(1);
		expect(calls[0].url).toBe('/api/v1/events/e1?scope=occurrence&recurrence_id=20260511T093000');
		expect(calls[0].body).toEqual({
			summary: 'x',
			start: { date_time: '2026-05-11T11:00:00', time_zone: 'Europe/Berlin' },
			end: { date_time: '2026-05-11T11:45:00', time_zone: 'Europe/Berlin' }
		});
	});

	it('moves the whole series by as much as the occurrence moved', async () => {
		const calls = stubFetch();
		await saveOccurrence(occurrence, 'series', 'Europe/Berlin', {}, moved);
		expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['GET /api/v1/events/e1', 'PATCH /api/v1/events/e1?scope=series']);
		expect(calls[1].body).toEqual({
			start: { date_time: '2026-05-04T11:00:00', time_zone: 'Europe/Berlin' },
			end: { date_time: '2026-05-04T11:45:00', time_zone: 'Europe/Berlin' }
		});
	});

	it('splits at the occurrence for "this and following"', async () => {
		const calls = stubFetch();
		await saveOccurrence(occurrence, 'following', 'Europe/Berlin', { summary: 'later' }, null);
		expect(calls[0].url).toBe('/api/v1/events/e1?scope=following&recurrence_id=20260511T093000');
		expect(calls[0].body).toEqual({ summary: 'later' });
	});

	it('treats a single event as its own series', async () => {
		const calls = stubFetch();
		await saveOccurrence({ ...occurrence, recurring: false, recurrence_id: null }, 'occurrence', 'UTC', { summary: 'y' }, null);
		expect(calls[0].url).toBe('/api/v1/events/e1?scope=series');
	});

	it('deletes with the chosen scope', async () => {
		const calls = stubFetch();
		await deleteOccurrence(occurrence, 'following');
		expect(calls[0]).toMatchObject({ method: 'DELETE', url: '/api/v1/events/e1?scope=following&recurrence_id=20260511T093000' });
	});
});
