import { expect, type Page } from '@playwright/test';
import { addDays, mondayOf, test, TODAY, ZONE, type IsoDate } from './clock';
import { expectAccessible, registerByApi, signIn, snap, uniqueEmail, verifyByMail } from './helpers';

/** The instant of the wall time `time` (HH:MM) on `day` in the browser's zone, whatever its UTC offset then. */
function wallTime(day: IsoDate, time: string): Date {
	const naive = new Date(`${day}T${time}:00Z`);
	const offset = (at: Date) => {
		const name = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, timeZoneName: 'longOffset' })
			.formatToParts(at)
			.find((part) => part.type === 'timeZoneName')?.value;
		const match = /GMT([+-])(\d\d):(\d\d)/.exec(name ?? '');
		return match ? (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0;
	};
	return new Date(naive.getTime() - offset(naive) * 60_000);
}

/** An instant as an iCalendar UTC date-time (20261207T140000Z). */
function icsUtc(at: Date): string {
	return at.toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';
}

/** The first day (a Monday) of the week the week view shows. */
async function shownWeek(page: Page): Promise<IsoDate> {
	const days = await page
		.locator('.ec time[datetime]')
		.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('datetime') ?? '').filter((d) => /^\d{4}-\d\d-\d\d$/.test(d)));
	return days.sort()[0] ?? '';
}

/** Page the week view to the week starting `monday`, from wherever the calendar stands. */
async function showWeek(page: Page, monday: IsoDate) {
	await expect.poll(() => shownWeek(page)).not.toBe('');
	const weeks = Math.round((Date.parse(monday) - Date.parse(await shownWeek(page))) / (7 * 86_400_000));
	for (let i = 0; i < Math.abs(weeks); i++) {
		await page.locator('.ec-toolbar').getByRole('button', { name: weeks > 0 ? /next/i : /prev/i }).click();
	}
	await expect.poll(() => shownWeek(page)).toBe(monday);
}

async function view(page: Page, name: 'Month' | 'Week' | 'Day' | 'Agenda') {
	await page.locator('.ec-toolbar').getByRole('button', { name, exact: true }).click();
}

test('a weekly event shows in week views, one occurrence is edited, an .ics imports with progress, an event is dragged', { tag: '@dated' }, async ({ page, request }) => {
	const email = uniqueEmail('katherine');
	await registerByApi(request, email, 'Katherine');
	await verifyByMail(page, email);
	await signIn(page, email);
	await expect(page).toHaveURL(/\/calendar$/);
	await expect(page.getByRole('checkbox', { name: 'Personal' })).toBeChecked();
	await expect(page.getByText('Times in Europe/Berlin')).toBeVisible();

	// A weekly stand-up, starting next Monday at 09:30 (next week's Monday, whichever day today is).
	const thisWeek = mondayOf(TODAY);
	const monday = addDays(thisWeek, 7);
	await page.getByRole('button', { name: 'New event' }).click();
	const dialog = page.getByRole('dialog', { name: 'New event' });
	await dialog.getByLabel('Title').fill('Team stand-up');
	await dialog.getByLabel('Starts').fill(monday);
	await dialog.getByLabel('Start time').fill('09:30');
	await dialog.getByLabel('Ends').fill(monday);
	await dialog.getByLabel('End time').fill('10:00');
	await dialog.getByLabel('Repeat', { exact: true }).selectOption('WEEKLY');
	await expect(dialog.getByRole('button', { name: 'Mon' })).toHaveAttribute('aria-pressed', 'true');
	await expect(dialog.getByText('Every week on Mon')).toBeVisible();
	await snap(page, 'calendar-new-event');
	await expectAccessible(page);
	await dialog.getByRole('button', { name: 'Save' }).click();
	await expect(page.getByText('Event created.')).toBeVisible();

	// Week view: it opens on this week (the browser's clock is at the chosen instant), which has none
	// (the series starts next Monday); next week and the one after have one each.
	await view(page, 'Week');
	await expect.poll(() => shownWeek(page)).toBe(thisWeek);
	const standup = page.locator('.ec-event', { hasText: 'Team stand-up' });
	await showWeek(page, monday);
	await expect(standup).toHaveCount(1);
	await expect(standup).toContainText('09:30');
	await showWeek(page, addDays(monday, 7));
	await expect(standup).toHaveCount(1);
	await snap(page, 'calendar-week');

	// Edit only this occurrence.
	await standup.click();
	const edit = page.getByRole('dialog', { name: 'Edit event' });
	await expect(edit.getByRole('radio', { name: 'This event' })).toBeChecked();
	await edit.getByLabel('Title').fill('Stand-up (moved room)');
	await snap(page, 'calendar-edit-occurrence');
	await edit.getByRole('button', { name: 'Save' }).click();
	await expect(page.getByText('Event saved.')).toBeVisible();
	await expect(page.locator('.ec-event', { hasText: 'Stand-up (moved room)' })).toHaveCount(1);
	await showWeek(page, monday);
	await expect(page.locator('.ec-event', { hasText: 'Team stand-up' })).toHaveCount(1);

	await view(page, 'Month');
	await expect(page.locator('.ec-event', { hasText: /stand-up/i }).first()).toBeVisible();
	await snap(page, 'calendar-month');
	await view(page, 'Agenda');
	await expect(page.locator('.ec-event', { hasText: 'Team stand-up' })).toHaveCount(1);
	await snap(page, 'calendar-agenda');
	await view(page, 'Day');
	await snap(page, 'calendar-day');

	// Import a large .ics: the worker imports it while the page shows its progress, streamed live.
	const streams: string[] = [];
	page.on('request', (request) => {
		if (request.url().includes('/api/v1/jobs/') || request.url().includes('/imports/')) streams.push(request.url());
	});
	// Back to the week of the first stand-up, whichever week the views in between left on screen.
	await view(page, 'Week');
	await showWeek(page, monday);
	await page.getByRole('button', { name: 'Settings of Personal' }).click();
	const settings = page.getByRole('dialog', { name: 'Calendar settings' });
	await settings.locator('input[type="file"]').setInputFiles({
		name: 'holidays.ics',
		mimeType: 'text/calendar',
		buffer: Buffer.from(bigIcs(monday, 1500))
	});
	await expect(settings.getByText('Imported 1,500 events: 1,500 new, 0 updated.')).toBeVisible({ timeout: 60_000 });
	// The progress came from the API's event stream (through Caddy), not from polling.
	expect(streams.some((url) => /\/api\/v1\/jobs\/[0-9a-f-]+\/events$/.test(url)), streams.join(', ')).toBe(true);
	expect(streams.filter((url) => url.includes('/imports/')), 'no fallback to polling').toEqual([]);
	await snap(page, 'calendar-settings-import');
	await expectAccessible(page);
	await settings.getByRole('button', { name: 'Create link' }).click();
	await expect(settings.getByTestId('feed-url')).toContainText('/api/v1/feeds/');
	await settings.getByRole('button', { name: 'Close', exact: true }).click();
	const imported = page.locator('.ec-event', { hasText: 'Imported 0001' });
	await expect(imported).toHaveCount(1);
	await expect(imported).toContainText('15:00');
	await expect.poll(() => shownWeek(page)).toBe(monday);

	// Drag it an hour later (two 30-minute slots); the move is saved.
	const box = await imported.boundingBox();
	if (!box) throw new Error('the imported event is not on screen');
	await page.mouse.move(box.x + box.width / 2, box.y + 8);
	await page.mouse.down();
	await page.mouse.move(box.x + box.width / 2, box.y + 38, { steps: 5 });
	await page.mouse.move(box.x + box.width / 2, box.y + 68, { steps: 5 });
	await page.mouse.up();
	await expect(page.getByText('Event moved.')).toBeVisible();
	await expect(imported).toContainText('16:00');
	const stored = await page.request.get(`/api/v1/events?start=${monday}T00:00:00Z&end=${monday}T23:59:59Z`);
	const moved = (await stored.json()).items.find((o: { summary: string }) => o.summary === 'Imported 0001');
	expect(new Date(moved.start.date_time).toISOString()).toBe(wallTime(monday, '16:00').toISOString());
	await snap(page, 'calendar-after-drag');

	// A returning visit opens the last view again (it once stored "undefined" and the calendar never rendered).
	const pageErrors: string[] = [];
	page.on('pageerror', (err) => pageErrors.push(String(err)));
	const savedView = await page.evaluate(() => localStorage.getItem('aiwfe.calendar.view'));
	expect(['dayGridMonth', 'timeGridWeek', 'timeGridDay', 'listWeek']).toContain(savedView);
	await page.reload();
	await expect(page.locator('.ec-toolbar')).toBeVisible();
	await expect(page.getByText('Loading your calendar')).toHaveCount(0);
	expect(pageErrors).toEqual([]);
});

/** An .ics of `count` events, 15:00 to 16:00 in the browser's zone on consecutive days from `first`, written in
 * UTC (so across a DST change the UTC time differs), padded past the inline-import size. */
function bigIcs(first: IsoDate, count: number): string {
	const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//aiwfe//e2e//EN'];
	const pad = 'x'.repeat(60); // lines stay under 75 octets (RFC 5545 folding)
	for (let i = 0; i < count; i++) {
		const day = addDays(first, i);
		lines.push(
			'BEGIN:VEVENT',
			`UID:e2e-${i}@example.com`,
			`DTSTAMP:${day.replaceAll('-', '')}T000000Z`,
			`DTSTART:${icsUtc(wallTime(day, '15:00'))}`,
			`DTEND:${icsUtc(wallTime(day, '16:00'))}`,
			`SUMMARY:Imported ${String(i + 1).padStart(4, '0')}`,
			`DESCRIPTION:${pad}`,
			`LOCATION:${pad}`,
			'END:VEVENT'
		);
	}
	lines.push('END:VCALENDAR');
	return lines.join('\r\n') + '\r\n';
}
