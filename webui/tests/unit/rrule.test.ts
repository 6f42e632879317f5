import { describe, expect, it } from 'vitest';
import { buildRRule, describeRepeat, noRepeat, parseRRule, weekdayOf } from '../../src/lib/rrule';

const timed = { allDay: false, zone: 'Europe/Berlin' };

describe('buildRRule', () => {
	it('gives null for a single event', () => {
		expect(buildRRule(noRepeat(), timed)).toBeNull();
	});

	it('writes weekly rules with days in week order', () => {
		const repeat = { ...noRepeat(), freq: 'WEEKLY' as const, byday: ['FR' as const, 'MO' as const] };
		expect(buildRRule(repeat, timed)).toBe('FREQ=WEEKLY;BYDAY=MO,FR');
	});

	it('writes interval and count', () => {
		const repeat = { ...noRepeat(), freq: 'DAILY' as const, interval: 2, ending: 'count' as const, count: 5 };
		expect(buildRRule(repeat, timed)).toBe('FREQ=DAILY;INTERVAL=2;COUNT=5');
	});

	it('ends timed series at the end of the last day in the zone, in UTC', () => {
		const repeat = { ...noRepeat(), freq: 'WEEKLY' as const, ending: 'until' as const, until: '2026-06-30' };
		expect(buildRRule(repeat, timed)).toBe('FREQ=WEEKLY;UNTIL=20260630T215959Z');
	});

	it('ends all-day series on a date', () => {
		const repeat = { ...noRepeat(), freq: 'YEARLY' as const, ending: 'until' as const, until: '2030-01-01' };
		expect(buildRRule(repeat, { allDay: true, zone: 'UTC' })).toBe('FREQ=YEARLY;UNTIL=20300101');
	});

	it('keeps a custom rule as it is', () => {
		const repeat = parseRRule('FREQ=MONTHLY;BYDAY=1MO');
		expect(repeat.custom).toBe('FREQ=MONTHLY;BYDAY=1MO');
		expect(buildRRule(repeat, timed)).toBe('FREQ=MONTHLY;BYDAY=1MO');
	});
});

describe('parseRRule', () => {
	it('reads what the editor writes', () => {
		expect(parseRRule('FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=8')).toMatchObject({
			freq: 'WEEKLY',
			interval: 2,
			byday: ['MO', 'WE'],
			ending: 'count',
			count: 8,
			custom: null
		});
		expect(parseRRule('RRULE:FREQ=DAILY;UNTIL=20260630T215959Z')).toMatchObject({ freq: 'DAILY', ending: 'until', until: '2026-06-30' });
		expect(parseRRule(null).freq).toBe('none');
	});

	it('describes rules in words', () => {
		expect(describeRepeat(parseRRule('FREQ=WEEKLY;BYDAY=MO'))).toBe('Every week on Mon');
		expect(describeRepeat(parseRRule('FREQ=MONTHLY;INTERVAL=3;COUNT=4'))).toBe('Every 3 months, 4 times');
		expect(describeRepeat(parseRRule('FREQ=DAILY;UNTIL=20260630'))).toBe('Every day, until 30 Jun 2026');
		expect(describeRepeat(noRepeat())).toBe('Does not repeat');
	});

	it('knows the weekday of a date', () => {
		expect(weekdayOf('2026-05-04')).toBe('MO');
		expect(weekdayOf('2026-05-10')).toBe('SU');
	});
});
