/**
 * Reminders in the web UI: the editor's reminders section, the bell and the notifications page, the webhook
 * settings page, at desktop and at 360 px. Reminders fire by the server's real clock (the scan compares with
 * the database's now), so this spec keeps the real browser clock, as tokens.spec.ts does, and takes every time
 * it types from that clock; the month header check is a dated spec at the fixed instant of clock.ts.
 */

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test, type Page } from '@playwright/test';
import { test as datedTest } from './clock';
import { expectAccessible, linkFromMail, registerByApi, signIn, snap, uniqueEmail } from './helpers';

/** A real HTTP receiver for the webhook on 127.0.0.1 (the stack allows private webhook targets). */
class Receiver {
	readonly requests: { headers: IncomingHttpHeaders; body: string }[] = [];
	private server: Server | null = null;

	async start(): Promise<string> {
		this.server = createServer((request, response) => {
			const chunks: Buffer[] = [];
			request.on('data', (chunk: Buffer) => chunks.push(chunk));
			request.on('end', () => {
				this.requests.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
				response.writeHead(204).end();
			});
		});
		await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
		return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
	}

	bodies(type: string): Record<string, unknown>[] {
		return this.requests.map((r) => JSON.parse(r.body) as Record<string, unknown>).filter((b) => b.type === type);
	}

	async stop(): Promise<void> {
		await new Promise((resolve) => this.server?.close(resolve));
	}
}

/** Date and wall time (YYYY-MM-DD, HH:MM) of `at` in the browser's zone. */
function berlinWall(at: Date): { date: string; time: string } {
	const parts = Object.fromEntries(
		new Intl.DateTimeFormat('en-GB', {
			timeZone: 'Europe/Berlin',
			year: 'numeric',
			month: '2-digit',
			day: '2-digit',
			hour: '2-digit',
			minute: '2-digit',
			hourCycle: 'h23'
		})
			.formatToParts(at)
			.map((p) => [p.type, p.value])
	);
	return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

async function expectNoSideScroll(page: Page) {
	const width = await page.evaluate(() => document.scrollingElement?.scrollWidth ?? 0);
	expect(width, `page is ${width}px wide`).toBeLessThanOrEqual(page.viewportSize()!.width);
}

/** A signed-in account whose address is verified (webhooks may require it). */
async function newAccount(page: Page, request: import('@playwright/test').APIRequestContext, name: string) {
	const email = uniqueEmail(name.toLowerCase());
	await registerByApi(request, email, name);
	await signIn(page, email);
	await expect(page).toHaveURL(/\/calendar$/);
	await page.goto(await linkFromMail(email, '/verify-email'));
	await expect(page.getByText('Your email address is confirmed.')).toBeVisible();
	return email;
}

test('reminders set in the editor ring the bell, are read on the notifications page and reach the webhook', async ({ page, request }) => {
	test.setTimeout(300_000);
	const receiver = new Receiver();
	const hookUrl = await receiver.start();
	try {
		await newAccount(page, request, 'Rosalind');

		// Webhook settings: a wrong URL is refused beside the field, in the API's words.
		await page.goto('/settings/webhook');
		await expect(page.getByText('No webhook reminders yet')).toBeVisible();
		const urlField = page.getByLabel('Webhook URL');
		await urlField.fill('ftp://receiver.example.com/hook');
		await page.getByRole('button', { name: 'Save' }).click();
		await expect(urlField).toHaveAttribute('aria-invalid', 'true');
		await expect(page.getByRole('alert').filter({ hasText: 'must be an http:// or https:// URL' })).toBeVisible();

		// The first save makes the secret, shown once; a test POST reaches the receiver, signed.
		await urlField.fill(hookUrl);
		await page.getByRole('button', { name: 'Save' }).click();
		await expect(page.getByText('Webhook saved.')).toBeVisible();
		const secret = await page.getByTestId('webhook-secret-value').textContent();
		expect(secret).toMatch(/^whsec_/);
		await snap(page, 'webhook-secret');
		await expectAccessible(page);
		await page.getByRole('button', { name: 'Done' }).click();
		await expect(page.getByTestId('webhook-secret')).toHaveCount(0);
		await page.getByRole('button', { name: 'Send a test' }).click();
		await expect(page.getByTestId('webhook-test-result')).toContainText('The test was delivered.');
		await expect(page.getByTestId('webhook-test-result')).toContainText('HTTP 204');
		expect(receiver.bodies('webhook.test')).toHaveLength(1);
		expect(receiver.requests[0].headers['idempotency-key']).toBeTruthy();
		await page.reload();
		await expect(urlField).toHaveValue(hookUrl);
		await expect(page.getByTestId('webhook-secret')).toHaveCount(0); // shown once only

		// An event starting in 3 minutes (the server's real clock decides when reminders are due), with two
		// in-app reminders and a webhook one, set in the editor.
		const start = berlinWall(new Date(Date.now() + 3 * 60_000));
		const end = berlinWall(new Date(Date.now() + 33 * 60_000));
		await page.goto('/calendar');
		await page.getByRole('button', { name: 'New event' }).click();
		const dialog = page.getByRole('dialog', { name: 'New event' });
		await dialog.getByLabel('Title').fill('Water the plants');
		await dialog.getByLabel('Starts').fill(start.date);
		await dialog.getByLabel('Start time').fill(start.time);
		await dialog.getByLabel('Ends').fill(end.date);
		await dialog.getByLabel('End time').fill(end.time);
		await expect(dialog.getByText('No reminders.')).toBeVisible();
		for (let i = 0; i < 3; i++) await dialog.getByRole('button', { name: 'Add reminder' }).click();
		// A new row takes the next common offset (10 min, 30 min, 1 hour, …): set all three in minutes.
		for (const n of [1, 2, 3]) await dialog.getByLabel(`Reminder ${n}: unit`).selectOption('minutes');
		await dialog.getByLabel('Reminder 1: how long before').fill('3');
		await dialog.getByLabel('Reminder 2: how long before').fill('2');
		await dialog.getByLabel('Reminder 3: how long before').fill('2');
		await dialog.getByLabel('Reminder 3: channel').selectOption('webhook');
		await expect(dialog.getByRole('link', { name: 'Webhook settings' })).toBeVisible();
		// A duplicate is refused before any request, beside the section.
		await dialog.getByLabel('Reminder 2: how long before').fill('3');
		await dialog.getByRole('button', { name: 'Save' }).click();
		await expect(dialog.getByRole('alert').filter({ hasText: 'The same reminder appears twice.' })).toBeVisible();
		await dialog.getByLabel('Reminder 2: how long before').fill('2');
		await snap(page, 'event-reminders');
		await expectAccessible(page);
		await dialog.getByRole('button', { name: 'Save' }).click();
		await expect(page.getByText('Event created.')).toBeVisible();

		// What the editor stored, as the API has it.
		const day = new Date(Date.now() - 86_400_000).toISOString();
		const later = new Date(Date.now() + 2 * 86_400_000).toISOString();
		const found = await page.request.get(`/api/v1/events?start=${day}&end=${later}`);
		const occurrence = ((await found.json()) as { items: { event_id: string; summary: string }[] }).items.find(
			(o) => o.summary === 'Water the plants'
		);
		expect(occurrence).toBeTruthy();
		const stored = await page.request.get(`/api/v1/events/${occurrence!.event_id}/reminders`);
		// The API lists them by offset, then in its own channel order: compare as a set.
		const key = (r: { minutes_before: number; channel: string }) => `${r.minutes_before} ${r.channel}`;
		const storedKeys = ((await stored.json()) as { minutes_before: number; channel: string }[]).map(key).sort();
		expect(storedKeys).toEqual(['2 in_app', '2 webhook', '3 in_app']);

		// The bell counts both in-app reminders once they are due (the count is polled).
		const bell = page.getByTestId('bell');
		await expect(bell).toHaveAccessibleName('Notifications, none unread');
		await expect(page.getByTestId('bell-count')).toHaveText('2', { timeout: 240_000 });
		await expect(bell).toHaveAccessibleName('Notifications, 2 unread');
		await snap(page, 'bell-unread');

		await bell.click();
		await expect(page).toHaveURL(/\/notifications$/);
		const notes = page.getByTestId('notification');
		await expect(notes).toHaveCount(2);
		await expect(notes.first()).toContainText('Water the plants');
		await expect(page.getByTestId('unread-summary')).toHaveText('2 unread.');
		await snap(page, 'notifications');
		await expectAccessible(page);
		await notes.first().getByRole('button', { name: /Mark .* read/ }).click();
		await expect(notes.first()).toHaveAttribute('data-read', 'true');
		await expect(page.getByTestId('bell-count')).toHaveText('1');
		await page.getByRole('button', { name: 'Mark all read' }).click();
		await expect(page.getByTestId('unread-summary')).toHaveText('All read.');
		await expect(page.getByTestId('bell-count')).toHaveCount(0);
		await page.reload();
		await expect(notes).toHaveCount(2);
		await expect(page.locator('[data-testid="notification"][data-read="false"]')).toHaveCount(0);

		// The webhook reminder arrived and is listed as delivered.
		await expect.poll(() => receiver.bodies('event.reminder').length, { timeout: 120_000 }).toBe(1);
		expect(receiver.bodies('event.reminder')[0]).toMatchObject({ summary: 'Water the plants', minutes_before: 2 });
		await page.goto('/settings/webhook');
		const row = page.getByTestId('delivery-row');
		await expect(row).toHaveCount(1);
		await expect(row).toContainText('Water the plants');
		await expect(row).toContainText('Delivered');
		await snap(page, 'webhook-deliveries');
		await expectAccessible(page);
	} finally {
		await receiver.stop();
	}
});

test.describe('at 360 px', () => {
	test.use({ viewport: { width: 360, height: 740 } });

	test('the reminders section, the notifications page and the webhook page fit and pass axe', async ({ page, request }) => {
		await newAccount(page, request, 'Mobile');
		await page.goto('/calendar');
		await expect(page.getByTestId('bell')).toBeVisible();
		await expectNoSideScroll(page);
		await page.getByTestId('bell').click();
		await expect(page.getByText('No notifications yet')).toBeVisible();
		await expectNoSideScroll(page);
		await snap(page, 'mobile-notifications');
		await expectAccessible(page);

		await page.goto('/settings/webhook');
		await expect(page.getByLabel('Webhook URL')).toBeVisible();
		await expectNoSideScroll(page);
		await snap(page, 'mobile-webhook');
		await expectAccessible(page);

		await page.goto('/calendar');
		await page.getByRole('button', { name: 'New event' }).click();
		const dialog = page.getByRole('dialog', { name: 'New event' });
		await dialog.getByRole('button', { name: 'Add reminder' }).click();
		await dialog.getByRole('button', { name: 'Add reminder' }).click();
		await dialog.getByLabel('Reminder 2: channel').selectOption('email');
		await dialog.getByRole('button', { name: 'Remove reminder 1' }).click();
		await expect(dialog.getByLabel('Reminder 1: channel')).toHaveValue('email');
		await expect(dialog.getByLabel('Reminder 2: channel')).toHaveCount(0);
		await dialog.getByRole('group', { name: 'Reminders' }).scrollIntoViewIfNeeded();
		await expectNoSideScroll(page);
		await page.screenshot({ path: 'test-results/screenshots/mobile-event-reminders.png' });
		await expectAccessible(page);
	});
});

datedTest('the month view heads its columns with weekday names', { tag: '@dated' }, async ({ page, request }) => {
	const email = uniqueEmail('monthly');
	await registerByApi(request, email, 'Monthly');
	await signIn(page, email);
	await expect(page).toHaveURL(/\/calendar$/);
	await page.locator('.ec-toolbar').getByRole('button', { name: 'Month', exact: true }).click();
	const heads = page.locator('.ec-month-view .ec-col-head');
	await expect(heads).toHaveCount(7);
	// Not "Mon 30, Tue 1, …": the first week's dates over every week.
	expect((await heads.allInnerTexts()).map((t) => t.trim())).toEqual(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']);
	await snap(page, 'calendar-month-header');
});
