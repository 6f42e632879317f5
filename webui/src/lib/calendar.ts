/**
 * Between the API's events and the calendar component: occurrences become component events in
 * the viewer's time zone (as floating wall clocks), and edited wall clocks become API times again.
 */

import type { CalendarInfo, EventTime, Occurrence } from './api/types';
import { addDays, wallClock, wallToInstant } from './time';

export const PALETTE = ['#4f46e5', '#0891b2', '#059669', '#ca8a04', '#ea580c', '#dc2626', '#db2777', '#7c3aed', '#475569'];

/** What the component draws for one occurrence. */
export interface ViewEvent {
	id: string;
	title: string;
	start: string;
	end: string;
	allDay: boolean;
	backgroundColor: string;
	textColor: string;
	/** false for events of a read-only (one-way synced) calendar: no drag or resize. */
	editable?: boolean;
	extendedProps: { occurrence: Occurrence };
}

/** Black or white, whichever reads better on `background` (#rrggbb). */
export function readableText(background: string): string {
	const m = background.match(/^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i);
	if (!m) return '#ffffff';
	const [r, g, b] = m.slice(1).map((hex) => {
		const c = parseInt(hex, 16) / 255;
		return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
	});
	const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
	// Contrast against white vs against near-black text.
	return (1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? '#ffffff' : '#141824');
}

/** The wall clock (`YYYY-MM-DDTHH:MM:SS`) or date of an API time, in `zone`. */
export function wallOf(time: EventTime, zone: string): string {
	if (time.date) return time.date;
	if (!time.date_time) throw new Error('an event time has neither date nor date_time');
	// A date_time without an offset is a wall clock in its own zone.
	const hasOffset = /(Z|[+-]\d{2}:?\d{2})$/.test(time.date_time);
	const instant = hasOffset ? new Date(time.date_time) : wallToInstant(time.date_time, time.time_zone ?? 'UTC');
	return wallClock(instant, zone);
}

export function toViewEvent(occurrence: Occurrence, zone: string, calendars: Map<string, CalendarInfo>): ViewEvent {
	const calendar = calendars.get(occurrence.calendar_id);
	const color = calendar?.color ?? PALETTE[0];
	return {
		...(calendar?.read_only ? { editable: false } : {}),
		id: occurrence.id,
		title: occurrence.summary || '(no title)',
		start: wallOf(occurrence.start, zone),
		end: wallOf(occurrence.end, zone),
		allDay: occurrence.all_day,
		backgroundColor: color,
		textColor: readableText(color),
		extendedProps: { occurrence }
	};
}

/** API start and end for an edited event: dates for all-day (end exclusive), wall clocks in `zone` otherwise. */
export function apiTimes(
	start: string,
	end: string,
	allDay: boolean,
	zone: string
): { start: EventTime; end: EventTime } {
	if (allDay) {
		const first = start.slice(0, 10);
		let last = end.slice(0, 10);
		if (last <= first) last = addDays(first, 1);
		return { start: { date: first }, end: { date: last } };
	}
	const normal = (wall: string) => (wall.length === 16 ? `${wall}:00` : wall.slice(0, 19));
	return {
		start: { date_time: normal(start), time_zone: zone },
		end: { date_time: normal(end), time_zone: zone }
	};
}

/** Milliseconds between two wall clocks, read as if they were UTC (no zone rules involved). */
export function wallDelta(from: string, to: string): number {
	const parse = (wall: string) => Date.parse(`${wall.length === 10 ? `${wall}T00:00:00` : wall.slice(0, 19)}Z`);
	return parse(to) - parse(from);
}

/** `wall` moved by `ms` milliseconds of wall-clock time. */
export function shiftWall(wall: string, ms: number): string {
	const base = Date.parse(`${wall.length === 10 ? `${wall}T00:00:00` : wall.slice(0, 19)}Z`);
	const moved = new Date(base + ms).toISOString().slice(0, 19);
	return wall.length === 10 ? moved.slice(0, 10) : moved;
}

/** The instants (ISO, UTC) a view's floating range covers in `zone`. */
export function rangeInstants(startWall: string, endWall: string, zone: string): { start: string; end: string } {
	return {
		start: wallToInstant(startWall, zone).toISOString(),
		end: wallToInstant(endWall, zone).toISOString()
	};
}
