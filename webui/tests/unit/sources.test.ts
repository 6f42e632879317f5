import { describe, expect, it } from 'vitest';
import { SOURCE_LABELS, SYNC_BADGES, SYNC_LABELS, isSyncing } from '../../src/lib/sources';

describe('calendar sources', () => {
	it('names every source and status in words', () => {
		expect(SOURCE_LABELS.ics.title).toBe('Subscribe to an ICS link');
		expect(SOURCE_LABELS.caldav.title).toBe('A CalDAV server');
		expect(SYNC_LABELS.error).toBe('Sync failed');
		expect(SYNC_LABELS.ok).toBe('Up to date');
		expect(SYNC_BADGES.error).toContain('badge-danger');
	});

	it('knows when a sync will still change by itself', () => {
		expect(isSyncing('pending')).toBe(true);
		expect(isSyncing('syncing')).toBe(true);
		expect(isSyncing('ok')).toBe(false);
		expect(isSyncing('error')).toBe(false);
	});
});
