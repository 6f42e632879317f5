/** Calendar sources (local, an ICS link, a CalDAV server, Google) and their sync status, in words. */

import type { CalendarSource, SyncStatus } from './api/types';

export const SOURCE_LABELS: Record<CalendarSource, { title: string; hint: string }> = {
	local: { title: 'On this server', hint: 'Events you add here.' },
	ics: { title: 'Subscribe to an ICS link', hint: 'A read-only copy of an .ics address, refreshed regularly.' },
	caldav: { title: 'A CalDAV server', hint: 'Nextcloud, Fastmail, iCloud, Radicale and others.' },
	google: { title: 'Google Calendar', hint: 'Through a connected Google account.' }
};

export const SYNC_LABELS: Record<SyncStatus, string> = {
	not_synced: 'Not synced yet',
	pending: 'Waiting to sync',
	syncing: 'Syncing…',
	ok: 'Up to date',
	error: 'Sync failed'
};

export const SYNC_BADGES: Record<SyncStatus, string> = {
	not_synced: 'badge',
	pending: 'badge badge-accent',
	syncing: 'badge badge-accent',
	ok: 'badge badge-success',
	error: 'badge badge-danger'
};

/** A sync is queued or running: the status will change by itself. */
export function isSyncing(status: string): boolean {
	return status === 'pending' || status === 'syncing';
}
