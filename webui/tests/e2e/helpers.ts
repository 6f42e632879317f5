/** Shared steps of the end-to-end specs: accounts, mail from the stack's SMTP sink, TOTP codes, screenshots. */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, type APIRequestContext, type Page } from '@playwright/test';
import { Secret, TOTP } from 'otpauth';

export const PASSWORD = 'a quiet harbour at dawn 42';
export const ADMIN = {
	email: process.env.AIWFE_E2E_ADMIN_EMAIL ?? 'ada.admin@example.com',
	password: process.env.AIWFE_E2E_ADMIN_PASSWORD ?? ''
};

let counter = 0;
export function uniqueEmail(prefix: string): string {
	counter += 1;
	// The real clock only makes the address unique across runs against the same stack.
	return `${prefix}.${Date.now().toString(36)}${counter}@example.com`;
}

/** Save a screenshot of the whole page under test-results/screenshots/. */
export async function snap(page: Page, name: string): Promise<void> {
	// From the top: a full-page capture of a scrolled page draws the sticky header mid-page.
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage: true });
}

/** No serious or critical accessibility violation on the page (axe-core, WCAG 2.1 A/AA). */
export async function expectAccessible(page: Page): Promise<void> {
	const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
	const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
	expect(
		serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
		`axe on ${page.url()}`
	).toEqual([]);
}

function decodeQuotedPrintable(text: string): string {
	return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The path of the first link to `route` in a mail to `to`, waiting for the worker to send it. */
export async function linkFromMail(to: string, route: string, timeoutMs = 45_000): Promise<string> {
	const folder = process.env.AIWFE_E2E_MAIL_DIR;
	if (!folder) throw new Error('AIWFE_E2E_MAIL_DIR is not set (run through tests/webui/test_e2e.py)');
	const deadline = Date.now() + timeoutMs; // real elapsed time: how long the worker may take
	const pattern = new RegExp(`https?://[^\\s"<>]+${route.replace('/', '\\/')}\\?token=[A-Za-z0-9_\\-]+`);
	while (Date.now() < deadline) {
		for (const name of readdirSync(folder).filter((n) => n.endsWith('.eml')).sort().reverse()) {
			const mail = decodeQuotedPrintable(readFileSync(join(folder, name), 'utf8'));
			if (!mail.toLowerCase().includes(to.toLowerCase())) continue;
			const match = mail.match(pattern);
			if (match) {
				const url = new URL(match[0]);
				return url.pathname + url.search;
			}
		}
		await new Promise((resolve) => setTimeout(resolve, 500));
	}
	throw new Error(`no mail to ${to} with a ${route} link arrived in ${folder}`);
}

/** A TOTP code for `secret`, `stepsAhead` periods from now (the server accepts ±1, each step once). */
export function totpCode(secret: string, stepsAhead = 0): string {
	// The real clock: the server checks the code against its own, real time.
	const totp = new TOTP({ secret: Secret.fromBase32(secret.replace(/\s+/g, '')), digits: 6, period: 30, algorithm: 'SHA1' });
	return totp.generate({ timestamp: Date.now() + stepsAhead * 30_000 });
}

export async function registerByApi(request: APIRequestContext, email: string, name: string): Promise<void> {
	const response = await request.post('/api/v1/auth/register', {
		data: { email, password: PASSWORD, display_name: name, time_zone: 'Europe/Berlin' }
	});
	expect(response.status(), await response.text()).toBe(201);
}

/** Open the verification link registration mailed to `email`: tokens, feeds and webhooks need it. */
export async function verifyByMail(page: Page, email: string): Promise<void> {
	await page.goto(await linkFromMail(email, '/verify-email'));
	await expect(page.getByText('Your email address is confirmed.')).toBeVisible();
}

export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
	await page.goto('/login');
	await page.getByLabel('Email').fill(email);
	await page.getByLabel('Password').fill(password);
	await page.getByRole('button', { name: 'Sign in' }).click();
}
