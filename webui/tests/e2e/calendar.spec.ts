import { expect, test, type Page } from '@playwright/test';
import { expectAccessible, registerByApi, signIn, snap, uniqueEmail, verifyByMail } from './helpers';

function nextMonday(): Date {
	const day = new Date();
	day.setHours(12, 0, 0, 0);
	day.setDate(day.getDate() + ((8 - day.getDay()) % 7 || 7));
	return day;
}

function isoDate(day: Date): string {
	return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}-${String(day.getDate()).padStart(2, '0')}`;
}

async function view(page: Page, name: 'Month' | 'Week' | 'Day' | 'Agenda') {
	await page.locator('.ec-toolbar').getByRole('button', { name, exact: true }).click();
}

test('a weekly event shows in week views, one occurrence is edited, an .ics imports with progress, an event is dragged', async ({ page, request }) => {
	const email = uniqueEmail('katherine');
	await registerByApi(request, email, 'Katherine');
	await verifyByMail(page, email);
	await signIn(page, email);
	await expect(page).toHaveURL(/\/calendar$/);
	await expect(page.getByRole('checkbox', { name: 'Personal' })).toBeChecked();
	await expect(page.getByText('Times in Europe/Berlin')).toBeVisible();

	// A weekly stand-up, starting next Monday at 09:30.
	const monday = nextMonday();
	await page.getByRole('button', { name: 'New event' }).click();
	const dialog = page.getByRole('dialog', { name: 'New event' });
	await dialog.getByLabel('Title').fill('Team stand-up');
	await dialog.getByLabel('Starts').fill(isoDate(monday));
	await dialog.getByLabel('Start time').fill('09:30');
	await dialog.getByLabel('Ends').fill(isoDate(monday));
	await dialog.getByLabel('End time').fill('10:00');
	await dialog.getByLabel('Repeat', { exact: true }).selectOption('WEEKLY');
	await expect(dialog.getByRole('button', { name: 'Mon' })).toHaveAttribute('aria-pressed', 'true');
	await expect(dialog.getByText('Every week on Mon')).toBeVisible();
	await snap(page, 'calendar-new-event');
	await expectAccessible(page);
	await dialog.getByRole('button', { name: 'Save' }).click();
	await expect(page.getByText('Event created.')).toBeVisible();

	// Week view: this week has none (it starts next Monday), next week and the one after have one each.
	await view(page, 'Week');
	await page.locator('.ec-toolbar').getByRole('button', { name: /next/i }).click();
	const standup = page.locator('.ec-event', { hasText: 'Team stand-up' });
	await expect(standup).toHaveCount(1);
	await expect(standup).toContainText('09:30');
	await page.locator('.ec-toolbar').getByRole('button', { name: /next/i }).click();
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
	await page.locator('.ec-toolbar').getByRole('button', { name: /prev/i }).click();
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
	await view(page, 'Week');
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
	const day = isoDate(monday);
	const stored = await page.request.get(`/api/v1/events?start=${day}T00:00:00Z&end=${day}T23:59:59Z`);
	const moved = (await stored.json()).items.find((o: { summary: string }) => o.summary === 'Imported 0001');
	expect(new Date(moved.start.date_time).toISOString()).toBe(`${day}T15:00:00.000Z`);
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

/** An .ics of `count` one-hour events on consecutive days from `first`, padded past the inline-import size. */
function bigIcs(first: Date, count: number): string {
	const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//aiwfe//e2e//EN'];
	const pad = 'x'.repeat(60); // lines stay under 75 octets (RFC 5545 folding)
	for (let i = 0; i < count; i++) {
		const day = new Date(first);
		day.setDate(first.getDate() + i);
		const stamp = isoDate(day).replaceAll('-', '');
		lines.push(
			'BEGIN:VEVENT',
			`UID:e2e-${i}@example.com`,
			`DTSTAMP:${stamp}T000000Z`,
			`DTSTART:${stamp}T140000Z`,
			`DTEND:${stamp}T150000Z`,
			`SUMMARY:Imported ${String(i + 1).padStart(4, '0')}`,
			`DESCRIPTION:${pad}`,
			`LOCATION:${pad}`,
			'END:VEVENT'
		);
	}
	lines.push('END:VCALENDAR');
	return lines.join('\r\n') + '\r\n';
}
