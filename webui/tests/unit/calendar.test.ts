import { describe, expect, it } from 'vitest';
import type { CalendarInfo, Occurrence } from '../../src/lib/api/types';
import { apiTimes, rangeInstants, readableText, shiftWall, toViewEvent, wallDelta, wallOf } from '../../src/lib/calendar';

const occurrence: Occurrence = {
	id: 'e1@20260504T093000',
	event_id: 'e1',
	override_id: null,
	calendar_id: 'c1',
	uid: 'u1',
	recurrence_id: '20260504T093000',
	recurring: true,
	summary: 'Stand-up',
	description: '',
	location: '',
	all_day: false,
	start: { date_time: '2026-05-04T09:30:00+02:00', time_zone: 'Europe/Berlin' },
	end: { date_time: '2026-05-04T10:00:00+02:00', time_zone: 'Europe/Berlin' },
	status: 'confirmed',
	transparency: 'opaque',
	etag: 'x'
};

describe('occurrences in the viewer zone', () => {
	it('shows times as wall clocks of the viewer, coloured by calendar', () => {
		const calendars = new Map([['c1', { id: 'c1', color: '#ca8a04' } as CalendarInfo]]);
		const view = toViewEvent(occurrence, 'America/New_York', calendars);
		expect(view).toMatchObject({
			id: 'e1@20260504T093000',
			title: 'Stand-up',
			start: '2026-05-04T03:30:00',
			end: '2026-05-04T04:00:00',
			allDay: false,
			backgroundColor: '#ca8a04'
		});
	});

	it('reads a wall clock without offset in its own zone, and dates as they are', () => {
		expect(wallOf({ date_time: '2026-05-04T09:30:00', time_zone: 'Europe/Berlin' }, 'UTC')).toBe('2026-05-04T07:30:00');
		expect(wallOf({ date: '2026-05-04' }, 'Asia/Tokyo')).toBe('2026-05-04');
	});

	it('titles untitled events', () => {
		expect(toViewEvent({ ...occurrence, summary: '' }, 'UTC', new Map()).title).toBe('(no title)');
	});

	it('keeps events of a read-only (one-way synced) calendar from being dragged', () => {
		const base = { id: 'c1', name: 'Holidays', color: '#059669', time_zone: 'UTC' } as CalendarInfo;
		expect(toViewEvent(occurrence, 'UTC', new Map([['c1', { ...base, read_only: true }]])).editable).toBe(false);
		expect(toViewEvent(occurrence, 'UTC', new Map([['c1', { ...base, read_only: false }]]))).not.toHaveProperty('editable');
	});
});

describe('edits back to the API', () => {
	it('sends wall clocks with the zone for timed events', () => {
		expect(apiTimes('2026-05-04T09:30', '2026-05-04T10:00:00', false, 'Europe/Berlin')).toEqual({
			start: { date_time: '2026-05-04T09:30:00', time_zone: 'Europe/Berlin' },
			end: { date_time: '2026-05-04T10:00:00', time_zone: 'Europe/Berlin' }
		});
	});

	it('sends dates with an exclusive end for all-day events', () => {
		expect(apiTimes('2026-05-04', '2026-05-04', true, 'UTC')).toEqual({ start: { date: '2026-05-04' }, end: { date: '2026-05-05' } });
		expect(apiTimes('2026-05-04T00:00:00', '2026-05-06T00:00:00', true, 'UTC')).toEqual({
			start: { date: '2026-05-04' },
			end: { date: '2026-05-06' }
		});
	});

	it('moves a series start by as much as an occurrence moved', () => {
		const delta = wallDelta('2026-05-11T09:30:00', '2026-05-12T11:00:00');
		expect(shiftWall('2026-05-04T09:30:00', delta)).toBe('2026-05-05T11:00:00');
		expect(shiftWall('2026-05-04', wallDelta('2026-05-11', '2026-05-13'))).toBe('2026-05-06');
	});

	it('turns a view range into UTC instants', () => {
		expect(rangeInstants('2026-05-04T00:00:00', '2026-05-11T00:00:00', 'Europe/Berlin')).toEqual({
			start: '2026-05-03T22:00:00.000Z',
			end: '2026-05-10T22:00:00.000Z'
		});
	});

	it('picks readable text colours', () => {
		expect(readableText('#4f46e5')).toBe('#ffffff');
		expect(readableText('#fde047')).toBe('#141824');
	});
});
