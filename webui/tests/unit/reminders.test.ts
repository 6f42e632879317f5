import { describe, expect, it } from 'vitest';
import type { AppNotification, NotificationPage } from '../../src/lib/api/types';
import { NotificationCenter, type NotificationsApi, type PollEnvironment } from '../../src/lib/notifications.svelte';
import {
	MAX_MINUTES_BEFORE,
	badgeText,
	bellLabel,
	describeOffset,
	fromRows,
	nextRow,
	sameReminders,
	toRow
} from '../../src/lib/reminders';

describe('reminder rows', () => {
	it('reads an offset in the largest exact unit and back', () => {
		expect(toRow({ minutes_before: 0, channel: 'email' })).toEqual({ amount: 0, unit: 'minutes', channel: 'email' });
		expect(toRow({ minutes_before: 90, channel: 'in_app' })).toEqual({ amount: 90, unit: 'minutes', channel: 'in_app' });
		expect(toRow({ minutes_before: 120, channel: 'in_app' }).unit).toBe('hours');
		expect(toRow({ minutes_before: 2880, channel: 'in_app' })).toMatchObject({ amount: 2, unit: 'days' });
		expect(toRow({ minutes_before: MAX_MINUTES_BEFORE, channel: 'webhook' })).toMatchObject({ amount: 4, unit: 'weeks' });
		for (const minutes of [0, 5, 60, 90, 1440, 10080, 40320]) {
			const back = fromRows([toRow({ minutes_before: minutes, channel: 'email' })]);
			expect(back).toEqual({ reminders: [{ minutes_before: minutes, channel: 'email' }] });
		}
	});

	it('refuses what the API would refuse, with a sentence', () => {
		expect(fromRows([{ amount: 5, unit: 'weeks', channel: 'email' }])).toEqual({
			error: 'A reminder can be at most 4 weeks before.'
		});
		expect(fromRows([{ amount: -1, unit: 'minutes', channel: 'email' }])).toHaveProperty('error');
		expect(fromRows([{ amount: 1.5, unit: 'hours', channel: 'email' }])).toHaveProperty('error');
		const twice = fromRows([
			{ amount: 1, unit: 'hours', channel: 'email' },
			{ amount: 60, unit: 'minutes', channel: 'email' }
		]);
		expect(twice).toEqual({ error: 'The same reminder appears twice.' });
		const eleven = Array.from({ length: 11 }, (_, i) => ({ amount: i, unit: 'minutes' as const, channel: 'email' as const }));
		expect(fromRows(eleven)).toEqual({ error: 'At most 10 reminders.' });
	});

	it('sorts the body as the API lists it, so an unchanged list needs no request', () => {
		const body = fromRows([
			{ amount: 1, unit: 'days', channel: 'webhook' },
			{ amount: 10, unit: 'minutes', channel: 'in_app' },
			{ amount: 10, unit: 'minutes', channel: 'email' }
		]);
		expect(body).toEqual({
			reminders: [
				{ minutes_before: 10, channel: 'email' },
				{ minutes_before: 10, channel: 'in_app' },
				{ minutes_before: 1440, channel: 'webhook' }
			]
		});
		expect(sameReminders([{ minutes_before: 10, channel: 'email' }, { minutes_before: 5, channel: 'in_app' }], [
			{ minutes_before: 5, channel: 'in_app' },
			{ minutes_before: 10, channel: 'email' }
		])).toBe(true);
		expect(sameReminders([{ minutes_before: 10, channel: 'email' }], [{ minutes_before: 10, channel: 'in_app' }])).toBe(false);
	});

	it('adds a row that is not already there', () => {
		expect(nextRow([])).toEqual({ amount: 10, unit: 'minutes', channel: 'in_app' });
		expect(nextRow([{ amount: 10, unit: 'minutes', channel: 'in_app' }])).toEqual({ amount: 30, unit: 'minutes', channel: 'in_app' });
		expect(nextRow([{ amount: 10, unit: 'minutes', channel: 'email' }])).toMatchObject({ amount: 10 });
	});

	it('says offsets and counts as people read them', () => {
		expect(describeOffset(0)).toBe('At the start');
		expect(describeOffset(1)).toBe('1 minute before');
		expect(describeOffset(60)).toBe('1 hour before');
		expect(describeOffset(4320)).toBe('3 days before');
		expect(badgeText(7)).toBe('7');
		expect(badgeText(100)).toBe('99+');
		expect(bellLabel(0)).toBe('Notifications, none unread');
		expect(bellLabel(3)).toBe('Notifications, 3 unread');
	});
});

function note(id: string, read = false): AppNotification {
	return { id, kind: 'event.reminder', title: id, body: '', data: {}, read_at: read ? '2030-01-01T00:00:00Z' : null, created_at: '2030-01-01T00:00:00Z' };
}

/** An in-memory notifications API over a list, newest first, that records its calls. */
class FakeApi implements NotificationsApi {
	calls: string[] = [];
	constructor(public all: AppNotification[]) {}
	unreadCount() {
		return this.all.filter((n) => n.read_at === null).length;
	}
	async list(query: { limit?: number; unread?: boolean; cursor?: string | null } = {}): Promise<NotificationPage> {
		this.calls.push(`list ${query.limit}${query.unread ? ' unread' : ''}${query.cursor ? ` after ${query.cursor}` : ''}`);
		const pool = query.unread ? this.all.filter((n) => n.read_at === null) : this.all;
		const start = query.cursor ? pool.findIndex((n) => n.id === query.cursor) + 1 : 0;
		const items = pool.slice(start, start + (query.limit ?? 50));
		const more = start + items.length < pool.length;
		return { items, next_cursor: more ? items[items.length - 1].id : null, unread: this.unreadCount() };
	}
	async markRead(id: string) {
		this.calls.push(`read ${id}`);
		this.all = this.all.map((n) => (n.id === id && !n.read_at ? { ...n, read_at: '2030-01-02T00:00:00Z' } : n));
		return this.all.find((n) => n.id === id)!;
	}
	async markAllRead() {
		this.calls.push('read all');
		const marked = this.unreadCount();
		this.all = this.all.map((n) => ({ ...n, read_at: n.read_at ?? '2030-01-02T00:00:00Z' }));
		return { marked };
	}
}

describe('NotificationCenter', () => {
	it('counts cheaply, pages, and keeps the count in step when marking read', async () => {
		const api = new FakeApi([note('c'), note('b', true), note('a')]);
		const center = new NotificationCenter(api, 2, () => '2030-01-03T00:00:00Z');
		await center.refresh();
		expect(center.unread).toBe(2);
		expect(api.calls).toEqual(['list 1 unread']);
		await center.load();
		await center.more();
		expect(center.items.map((n) => n.id)).toEqual(['c', 'b', 'a']);
		expect(center.nextCursor).toBeNull();
		await center.markRead('c');
		await center.markRead('b'); // already read: the count stays
		expect(center.unread).toBe(1);
		await center.markAllRead();
		expect(center.unread).toBe(0);
		expect(center.items.every((n) => n.read_at)).toBe(true);
		expect(api.unreadCount()).toBe(0);
	});

	it('shows a notification that arrives while the list is open', async () => {
		const api = new FakeApi([note('a')]);
		const center = new NotificationCenter(api);
		await center.load();
		await center.refresh();
		api.all = [note('b'), ...api.all];
		await center.refresh();
		expect(center.items.map((n) => n.id)).toEqual(['b', 'a']);
		expect(center.unread).toBe(2);
	});

	it('polls only while the page is visible and stops when asked', async () => {
		const api = new FakeApi([note('a')]);
		const center = new NotificationCenter(api);
		let visible = true;
		let tick: (() => void) | null = null;
		let onVisible: (() => void) | null = null;
		const env: PollEnvironment = {
			setInterval: (fn) => ((tick = fn), 1),
			clearInterval: () => (tick = null),
			visible: () => visible,
			onVisibilityChange: (fn) => ((onVisible = fn), () => (onVisible = null))
		};
		const stop = center.start(env, 1000);
		expect(api.calls).toHaveLength(1);
		visible = false;
		tick!();
		expect(api.calls).toHaveLength(1);
		visible = true;
		onVisible!();
		expect(api.calls).toHaveLength(2);
		stop();
		expect(tick).toBeNull();
		expect(onVisible).toBeNull();
	});
});
