/**
 * The in-app notifications: the unread count the header's bell shows and the list the notifications page
 * shows, shared so marking one read on the page updates the bell at once. The API offers no stream for
 * them, so the count is polled — one small request (`limit=1&unread=true`) every POLL_MS, and only while
 * the page is visible; coming back to the tab asks at once.
 */

import type { AppNotification, NotificationPage } from './api/types';
import { unseen } from './paging';
import { POLL_MS, markedRead } from './reminders';

export interface NotificationsApi {
	list: (query?: { limit?: number; unread?: boolean; cursor?: string | null }) => Promise<NotificationPage>;
	markRead: (id: string) => Promise<AppNotification>;
	markAllRead: () => Promise<{ marked: number }>;
}

export interface PollEnvironment {
	setInterval: (fn: () => void, ms: number) => unknown;
	clearInterval: (handle: unknown) => void;
	visible: () => boolean;
	onVisibilityChange: (fn: () => void) => () => void;
}

const browser: PollEnvironment = {
	setInterval: (fn, ms) => window.setInterval(fn, ms),
	clearInterval: (handle) => window.clearInterval(handle as number),
	visible: () => document.visibilityState === 'visible',
	onVisibilityChange: (fn) => {
		document.addEventListener('visibilitychange', fn);
		return () => document.removeEventListener('visibilitychange', fn);
	}
};

export class NotificationCenter {
	unread = $state(0);
	items = $state<AppNotification[]>([]);
	nextCursor = $state<string | null>(null);
	/** False until the page's first list arrived. */
	loaded = $state(false);
	#latestSeen: string | null = null;

	constructor(
		private readonly api: NotificationsApi,
		private readonly pageSize = 20,
		private readonly now: () => string = () => new Date().toISOString()
	) {}

	/** Ask for the unread count; when it grew and the list is shown, new notifications are prepended. */
	async refresh(): Promise<void> {
		const page = await this.api.list({ limit: 1, unread: true });
		const newest = page.items[0]?.id ?? null;
		const changed = page.unread !== this.unread || (newest !== null && newest !== this.#latestSeen);
		this.unread = page.unread;
		this.#latestSeen = newest;
		if (changed && this.loaded) await this.#prependNew();
	}

	/** The first page of the list (the notifications page opens). */
	async load(): Promise<void> {
		const page = await this.api.list({ limit: this.pageSize });
		this.items = page.items;
		this.nextCursor = page.next_cursor;
		this.unread = page.unread;
		this.loaded = true;
	}

	/** The next (older) page, appended. */
	async more(): Promise<void> {
		if (!this.nextCursor) return;
		const page = await this.api.list({ limit: this.pageSize, cursor: this.nextCursor });
		this.items = [...this.items, ...unseen(this.items, page.items)];
		this.nextCursor = page.next_cursor;
		this.unread = page.unread;
	}

	async markRead(id: string): Promise<void> {
		const wasUnread = this.items.some((n) => n.id === id && n.read_at === null);
		const read = await this.api.markRead(id);
		this.items = this.items.map((n) => (n.id === id ? read : n));
		if (wasUnread) this.unread = Math.max(0, this.unread - 1);
	}

	async markAllRead(): Promise<void> {
		await this.api.markAllRead();
		this.items = markedRead(this.items, 'all', this.now());
		this.unread = 0;
	}

	/** Poll the count while visible; returns the function that stops. Errors wait for the next tick. */
	start(env: PollEnvironment = browser, every = POLL_MS): () => void {
		const tick = () => {
			if (env.visible()) this.refresh().catch(() => undefined);
		};
		tick();
		const handle = env.setInterval(tick, every);
		const unlisten = env.onVisibilityChange(tick);
		return () => {
			env.clearInterval(handle);
			unlisten();
		};
	}

	/** Forget everything (sign-out): the next account starts from nothing. */
	clear(): void {
		this.unread = 0;
		this.items = [];
		this.nextCursor = null;
		this.loaded = false;
		this.#latestSeen = null;
	}

	async #prependNew(): Promise<void> {
		const page = await this.api.list({ limit: this.pageSize });
		this.items = [...unseen(this.items, page.items), ...this.items];
		this.unread = page.unread;
	}
}
