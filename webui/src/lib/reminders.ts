/** Reminder offsets and channels as people read them, and the bits of the notification bell that need no DOM. */

import type { AppNotification, DeliveryStatus, Reminder, ReminderChannel } from './api/types';

export const MAX_REMINDERS = 10;
/** The API's limit: 4 weeks. */
export const MAX_MINUTES_BEFORE = 40320;

export const CHANNELS: { value: ReminderChannel; label: string }[] = [
	{ value: 'in_app', label: 'In-app' },
	{ value: 'email', label: 'Email' },
	{ value: 'webhook', label: 'Webhook' }
];

export type OffsetUnit = 'minutes' | 'hours' | 'days' | 'weeks';
export const UNIT_MINUTES: Record<OffsetUnit, number> = { minutes: 1, hours: 60, days: 1440, weeks: 10080 };

/** One editable row of the event editor: an amount in a unit, through a channel. */
export interface ReminderRow {
	amount: number;
	unit: OffsetUnit;
	channel: ReminderChannel;
}

/** The largest unit that expresses `minutes` exactly, so 1440 reads "1 day" and 90 "90 minutes". */
export function toRow(reminder: Reminder): ReminderRow {
	const { minutes_before: minutes, channel } = reminder;
	for (const unit of ['weeks', 'days', 'hours'] as const) {
		if (minutes > 0 && minutes % UNIT_MINUTES[unit] === 0) {
			return { amount: minutes / UNIT_MINUTES[unit], unit, channel };
		}
	}
	return { amount: minutes, unit: 'minutes', channel };
}

export function rowMinutes(row: ReminderRow): number {
	return Math.round(Number(row.amount)) * UNIT_MINUTES[row.unit];
}

/** The API body for `rows`, or a sentence saying what is wrong with them (the API would refuse them too). */
export function fromRows(rows: ReminderRow[]): { reminders: Reminder[] } | { error: string } {
	if (rows.length > MAX_REMINDERS) return { error: `At most ${MAX_REMINDERS} reminders.` };
	const seen = new Set<string>();
	const reminders: Reminder[] = [];
	for (const row of rows) {
		const amount = Number(row.amount);
		if (!Number.isInteger(amount) || amount < 0) return { error: 'A reminder’s time must be a whole number, 0 or more.' };
		const minutes = rowMinutes(row);
		if (minutes > MAX_MINUTES_BEFORE) return { error: 'A reminder can be at most 4 weeks before.' };
		const key = `${minutes}/${row.channel}`;
		if (seen.has(key)) return { error: 'The same reminder appears twice.' };
		seen.add(key);
		reminders.push({ minutes_before: minutes, channel: row.channel });
	}
	reminders.sort((a, b) => a.minutes_before - b.minutes_before || a.channel.localeCompare(b.channel));
	return { reminders };
}

/** Whether two lists hold the same reminders, in any order (no request when nothing changed). */
export function sameReminders(a: Reminder[], b: Reminder[]): boolean {
	const key = (list: Reminder[]) =>
		list
			.map((r) => `${r.minutes_before}/${r.channel}`)
			.sort()
			.join(',');
	return key(a) === key(b);
}

/** A new row: 10 minutes before in the app, or the next step out from the last row so it is not a duplicate. */
export function nextRow(rows: ReminderRow[]): ReminderRow {
	const steps = [10, 30, 60, 1440, 10080];
	const taken = new Set(rows.filter((r) => r.channel === 'in_app').map(rowMinutes));
	const minutes = steps.find((m) => !taken.has(m)) ?? 0;
	return toRow({ minutes_before: minutes, channel: 'in_app' });
}

/** "At the start", "10 minutes before", "1 day before". */
export function describeOffset(minutes: number): string {
	if (minutes === 0) return 'At the start';
	const { amount, unit } = toRow({ minutes_before: minutes, channel: 'in_app' });
	const name = amount === 1 ? unit.slice(0, -1) : unit;
	return `${amount} ${name} before`;
}

/** The bell's badge: the number, capped so it fits. */
export function badgeText(unread: number): string {
	return unread > 99 ? '99+' : String(unread);
}

/** The bell's accessible name, which carries the count a screen reader would otherwise miss. */
export function bellLabel(unread: number): string {
	if (unread === 0) return 'Notifications, none unread';
	return `Notifications, ${unread} unread`;
}

/** `items` with the ones in `ids` marked read at `at` (the list updates without a reload). */
export function markedRead(items: AppNotification[], ids: Set<string> | 'all', at: string): AppNotification[] {
	return items.map((n) => (n.read_at === null && (ids === 'all' || ids.has(n.id)) ? { ...n, read_at: at } : n));
}

export const STATUS_LABELS: Record<DeliveryStatus, string> = {
	pending: 'Waiting',
	sending: 'Sending',
	sent: 'Delivered',
	failed: 'Failed',
	skipped: 'Skipped'
};

/** How often the bell asks for the unread count while the page is visible; hidden pages do not ask. */
export const POLL_MS = 30_000;
