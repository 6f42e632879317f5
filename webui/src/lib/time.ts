/**
 * Time zones without a library: wall clocks in an IANA zone from instants and back (Intl only),
 * and the short formats the pages show.
 */

const partFormatters = new Map<string, Intl.DateTimeFormat>();

function parts(instant: Date, zone: string): Record<string, number> {
	let format = partFormatters.get(zone);
	if (!format) {
		format = new Intl.DateTimeFormat('en-US', {
			timeZone: zone,
			hourCycle: 'h23',
			year: 'numeric',
			month: '2-digit',
			day: '2-digit',
			hour: '2-digit',
			minute: '2-digit',
			second: '2-digit'
		});
		partFormatters.set(zone, format);
	}
	const out: Record<string, number> = {};
	for (const part of format.formatToParts(instant)) {
		if (part.type !== 'literal') out[part.type] = Number(part.value);
	}
	return out;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Minutes east of UTC of `zone` at `instant` (e.g. 120 for Europe/Berlin in summer). */
export function zoneOffsetMinutes(instant: Date, zone: string): number {
	const p = parts(instant, zone);
	const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
	return Math.round((asUtc - Math.floor(instant.getTime() / 1000) * 1000) / 60000);
}

/** `YYYY-MM-DDTHH:MM:SS`: the wall clock in `zone` at `instant`. */
export function wallClock(instant: Date | string, zone: string): string {
	const p = parts(typeof instant === 'string' ? new Date(instant) : instant, zone);
	return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/** The instant a wall clock (`YYYY-MM-DDTHH:MM[:SS]`) in `zone` denotes (the earlier one in a DST overlap). */
export function wallToInstant(wall: string, zone: string): Date {
	const m = wall.match(/^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?/);
	if (!m) throw new Error(`not a wall clock: ${wall}`);
	const asUtc = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
	let guess = asUtc - zoneOffsetMinutes(new Date(asUtc), zone) * 60000;
	const second = asUtc - zoneOffsetMinutes(new Date(guess), zone) * 60000;
	if (second !== guess) guess = Math.min(guess, second);
	return new Date(guess);
}

/** `YYYY-MM-DDTHH:MM:SS` from a Date's local fields (the calendar component's floating times). */
export function localWall(date: Date): string {
	return (
		`${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
		`T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
	);
}

/** `YYYY-MM-DD` from a Date's local fields. */
export function localDate(date: Date): string {
	return localWall(date).slice(0, 10);
}

/** `date` plus `days` days, both `YYYY-MM-DD`. */
export function addDays(date: string, days: number): string {
	const d = new Date(`${date}T00:00:00Z`);
	d.setUTCDate(d.getUTCDate() + days);
	return d.toISOString().slice(0, 10);
}

/** The browser's IANA zone, or UTC. */
export function browserTimeZone(): string {
	try {
		return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
	} catch {
		return 'UTC';
	}
}

/** Every IANA zone this browser knows, UTC first. */
export function timeZones(): string[] {
	const known =
		typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [browserTimeZone()];
	return ['UTC', ...known.filter((zone) => zone !== 'UTC')];
}

/** "GMT+2" style label of `zone` now. */
export function zoneAbbreviation(zone: string, at = new Date()): string {
	try {
		const name = new Intl.DateTimeFormat('en-GB', { timeZone: zone, timeZoneName: 'shortOffset' })
			.formatToParts(at)
			.find((part) => part.type === 'timeZoneName');
		return name?.value ?? zone;
	} catch {
		return zone;
	}
}

let displayZone: string | undefined;

/** The zone dates are shown in when a call names none: the signed-in user's (else the browser's). */
export function setDisplayZone(zone: string | undefined): void {
	displayZone = zone;
}

/** "4 May 2026, 14:05" in `zone` (the user's display zone when omitted). */
export function formatDateTime(iso: string | null | undefined, zone?: string): string {
	if (!iso) return '—';
	return new Intl.DateTimeFormat('en-GB', {
		timeZone: zone ?? displayZone,
		day: 'numeric',
		month: 'short',
		year: 'numeric',
		hour: '2-digit',
		minute: '2-digit'
	}).format(new Date(iso));
}

/** "just now", "5 minutes ago", "in 3 days". */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
	if (!iso) return 'never';
	const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
	const abs = Math.abs(seconds);
	if (abs < 45) return 'just now';
	const steps: [number, Intl.RelativeTimeFormatUnit][] = [
		[60, 'second'],
		[3600, 'minute'],
		[86400, 'hour'],
		[86400 * 30, 'day'],
		[86400 * 365, 'month'],
		[Infinity, 'year']
	];
	const units: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400, month: 86400 * 30, year: 86400 * 365 };
	const unit = steps.find(([limit]) => abs < limit)?.[1] ?? 'year';
	const value = Math.round(seconds / units[unit]);
	return new Intl.RelativeTimeFormat('en', { numeric: 'auto' }).format(value, unit);
}
