import { describe, expect, it } from 'vitest';
import { addDays, relativeTime, wallClock, wallToInstant, zoneOffsetMinutes } from '../../src/lib/time';

describe('time zones', () => {
	it('knows offsets in and out of daylight saving time', () => {
		expect(zoneOffsetMinutes(new Date('2026-07-01T12:00:00Z'), 'Europe/Berlin')).toBe(120);
		expect(zoneOffsetMinutes(new Date('2026-01-15T12:00:00Z'), 'Europe/Berlin')).toBe(60);
		expect(zoneOffsetMinutes(new Date('2026-01-15T12:00:00Z'), 'America/New_York')).toBe(-300);
		expect(zoneOffsetMinutes(new Date('2026-01-15T12:00:00Z'), 'UTC')).toBe(0);
	});

	it('shows an instant as a wall clock in a zone', () => {
		expect(wallClock('2026-07-01T07:30:00Z', 'Europe/Berlin')).toBe('2026-07-01T09:30:00');
		expect(wallClock('2026-07-01T09:30:00+02:00', 'America/New_York')).toBe('2026-07-01T03:30:00');
		expect(wallClock('2026-12-31T23:30:00Z', 'Asia/Tokyo')).toBe('2027-01-01T08:30:00');
	});

	it('turns a wall clock in a zone back into the instant', () => {
		expect(wallToInstant('2026-07-01T09:30:00', 'Europe/Berlin').toISOString()).toBe('2026-07-01T07:30:00.000Z');
		expect(wallToInstant('2026-01-15T09:30', 'Europe/Berlin').toISOString()).toBe('2026-01-15T08:30:00.000Z');
		expect(wallToInstant('2026-03-08', 'America/New_York').toISOString()).toBe('2026-03-08T05:00:00.000Z');
	});

	it('round-trips across the spring-forward day', () => {
		const wall = '2026-03-29T12:00:00';
		expect(wallClock(wallToInstant(wall, 'Europe/Berlin'), 'Europe/Berlin')).toBe(wall);
	});

	it('adds days to dates across month ends', () => {
		expect(addDays('2026-01-31', 1)).toBe('2026-02-01');
		expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
	});

	it('says how long ago', () => {
		const now = Date.parse('2026-05-04T12:00:00Z');
		expect(relativeTime('2026-05-04T11:59:50Z', now)).toBe('just now');
		expect(relativeTime('2026-05-04T11:55:00Z', now)).toBe('5 minutes ago');
		expect(relativeTime('2026-05-02T12:00:00Z', now)).toBe('2 days ago');
		expect(relativeTime(null, now)).toBe('never');
	});
});
