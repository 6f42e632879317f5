/** The recurrence editor's model and its RRULE text (RFC 5545), both ways. */

import { wallToInstant } from './time';

export type Frequency = 'none' | 'DAILY' | 'WEEKLY' | 'MONTHLY' | 'YEARLY';
export type Ending = 'never' | 'until' | 'count';

export const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
const WEEKDAY_NAMES: Record<Weekday, string> = {
	MO: 'Mon',
	TU: 'Tue',
	WE: 'Wed',
	TH: 'Thu',
	FR: 'Fri',
	SA: 'Sat',
	SU: 'Sun'
};

export interface Repeat {
	freq: Frequency;
	interval: number;
	byday: Weekday[];
	ending: Ending;
	/** `YYYY-MM-DD`, the last day an occurrence may start (inclusive). */
	until: string;
	count: number;
	/** A rule this editor cannot show (BYSETPOS, BYMONTHDAY, …): kept as is unless the user changes it. */
	custom: string | null;
}

export function noRepeat(): Repeat {
	return { freq: 'none', interval: 1, byday: [], ending: 'never', until: '', count: 10, custom: null };
}

/** The weekday code of a `YYYY-MM-DD` date. */
export function weekdayOf(date: string): Weekday {
	const day = new Date(`${date.slice(0, 10)}T12:00:00Z`).getUTCDay(); // 0 = Sunday
	return WEEKDAYS[(day + 6) % 7];
}

/**
 * RRULE text for `repeat`, or null for a single event. UNTIL is the end of that day in `zone`
 * (in UTC), or a plain date for all-day events.
 */
export function buildRRule(repeat: Repeat, options: { allDay: boolean; zone: string }): string | null {
	if (repeat.custom) return repeat.custom;
	if (repeat.freq === 'none') return null;
	const parts = [`FREQ=${repeat.freq}`];
	const interval = Math.max(1, Math.floor(repeat.interval || 1));
	if (interval > 1) parts.push(`INTERVAL=${interval}`);
	if (repeat.freq === 'WEEKLY' && repeat.byday.length) {
		const ordered = WEEKDAYS.filter((day) => repeat.byday.includes(day));
		parts.push(`BYDAY=${ordered.join(',')}`);
	}
	if (repeat.ending === 'count') {
		parts.push(`COUNT=${Math.max(1, Math.floor(repeat.count || 1))}`);
	} else if (repeat.ending === 'until' && /^\d{4}-\d{2}-\d{2}$/.test(repeat.until)) {
		if (options.allDay) {
			parts.push(`UNTIL=${repeat.until.replaceAll('-', '')}`);
		} else {
			const end = wallToInstant(`${repeat.until}T23:59:59`, options.zone);
			parts.push(`UNTIL=${end.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}`);
		}
	}
	return parts.join(';');
}

function untilDate(value: string): string {
	const m = value.match(/^(\d{4})(\d{2})(\d{2})/);
	return m ? `${m[1]}-${m[2]}-${m[3]}` : '';
}

/** The editor's model of an RRULE; rules it cannot represent come back with `custom` set. */
export function parseRRule(rule: string | null | undefined): Repeat {
	const repeat = noRepeat();
	if (!rule) return repeat;
	const text = rule.trim().replace(/^RRULE:/i, '');
	const fields = new Map<string, string>();
	for (const part of text.split(';')) {
		const [key, value] = part.split('=');
		if (key && value !== undefined) fields.set(key.toUpperCase(), value.toUpperCase());
	}
	const freq = fields.get('FREQ');
	const known = new Set(['FREQ', 'INTERVAL', 'BYDAY', 'COUNT', 'UNTIL', 'WKST']);
	const simpleByday = (fields.get('BYDAY') ?? '')
		.split(',')
		.filter(Boolean)
		.every((day) => (WEEKDAYS as readonly string[]).includes(day));
	if (
		!freq ||
		!['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'].includes(freq) ||
		[...fields.keys()].some((key) => !known.has(key)) ||
		!simpleByday ||
		(fields.has('BYDAY') && freq !== 'WEEKLY')
	) {
		return { ...repeat, freq: (freq as Frequency) ?? 'none', custom: text };
	}
	repeat.freq = freq as Frequency;
	repeat.interval = Number(fields.get('INTERVAL') ?? '1') || 1;
	repeat.byday = (fields.get('BYDAY') ?? '').split(',').filter(Boolean) as Weekday[];
	if (fields.has('COUNT')) {
		repeat.ending = 'count';
		repeat.count = Number(fields.get('COUNT')) || 1;
	} else if (fields.has('UNTIL')) {
		repeat.ending = 'until';
		repeat.until = untilDate(fields.get('UNTIL') ?? '');
	}
	return repeat;
}

const UNIT: Record<Exclude<Frequency, 'none'>, string> = {
	DAILY: 'day',
	WEEKLY: 'week',
	MONTHLY: 'month',
	YEARLY: 'year'
};

/** "Every 2 weeks on Mon, Wed, until 30 Jun 2026" */
export function describeRepeat(repeat: Repeat): string {
	if (repeat.custom) return `Custom rule: ${repeat.custom}`;
	if (repeat.freq === 'none') return 'Does not repeat';
	const unit = UNIT[repeat.freq];
	let text = repeat.interval > 1 ? `Every ${repeat.interval} ${unit}s` : `Every ${unit}`;
	if (repeat.freq === 'WEEKLY' && repeat.byday.length) {
		text += ` on ${WEEKDAYS.filter((d) => repeat.byday.includes(d))
			.map((d) => WEEKDAY_NAMES[d])
			.join(', ')}`;
	}
	if (repeat.ending === 'count') text += `, ${repeat.count} time${repeat.count === 1 ? '' : 's'}`;
	if (repeat.ending === 'until' && repeat.until) {
		const until = new Date(`${repeat.until}T12:00:00Z`).toLocaleDateString('en-GB', {
			day: 'numeric',
			month: 'short',
			year: 'numeric',
			timeZone: 'UTC'
		});
		text += `, until ${until}`;
	}
	return text;
}

export function weekdayName(day: Weekday): string {
	return WEEKDAY_NAMES[day];
}
