import { expect, test, type Page } from '@playwright/test';
import { expectAccessible, registerByApi, signIn, snap, uniqueEmail } from './helpers';

test.use({ viewport: { width: 360, height: 740 } });

async function expectNoSideScroll(page: Page) {
	const width = await page.evaluate(() => document.scrollingElement?.scrollWidth ?? 0);
	expect(width, `page is ${width}px wide at 360px`).toBeLessThanOrEqual(360);
}

test('every main page is usable at 360 px', async ({ page, request }) => {
	const email = uniqueEmail('mobile');
	await registerByApi(request, email, 'Mo Bile');
	await page.goto('/login');
	await expectNoSideScroll(page);
	await snap(page, 'mobile-login');
	await signIn(page, email);
	await expect(page).toHaveURL(/\/calendar$/);
	await expect(page.locator('.ec-toolbar')).toBeVisible();
	await expectNoSideScroll(page);
	await snap(page, 'mobile-calendar');

	await page.getByRole('button', { name: 'Menu' }).click();
	await expect(page.getByRole('link', { name: 'Settings' })).toBeVisible();
	await snap(page, 'mobile-menu');
	await page.getByRole('link', { name: 'Settings' }).click();
	await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();
	await expectNoSideScroll(page);
	await snap(page, 'mobile-settings');
	await expectAccessible(page);

	await page.goto('/settings/sessions');
	await expect(page.getByTestId('session-row')).toHaveCount(1);
	await expectNoSideScroll(page);
	await snap(page, 'mobile-sessions');

	await page.goto('/jobs');
	await expect(page.getByRole('heading', { name: 'Jobs', exact: true })).toBeVisible();
	await expect(page.getByText('No jobs yet')).toBeVisible();
	await expectNoSideScroll(page);
	await snap(page, 'mobile-jobs');
	await expectAccessible(page);
});
