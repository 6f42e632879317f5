import { expect, test } from '@playwright/test';
import { expectAccessible, registerByApi, signIn, snap, uniqueEmail, verifyByMail } from './helpers';

test('a personal access token is shown once, works as a bearer token, and can be revoked', async ({ page, request }) => {
	const email = uniqueEmail('ada');
	await registerByApi(request, email, 'Ada');
	await verifyByMail(page, email);
	await signIn(page, email);
	await expect(page).toHaveURL(/\/calendar$/);
	await page.goto('/settings/tokens');
	await expect(page.getByText('No access tokens yet')).toBeVisible();

	await page.getByLabel('Name').fill('Backup script');
	await page.getByLabel('Write').check();
	await page.getByRole('button', { name: 'Create token' }).click();
	const secret = (await page.getByTestId('token-secret').textContent())?.trim() ?? '';
	expect(secret.length).toBeGreaterThan(20);
	await expect(page.getByText('it will not be shown again')).toBeVisible();
	await snap(page, 'settings-token-created');
	await expectAccessible(page);

	const me = await request.get('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
	expect(me.status()).toBe(200);
	expect((await me.json()).email).toBe(email);

	await page.getByRole('button', { name: 'Done' }).click();
	await expect(page.getByTestId('token-row')).toHaveCount(1);
	await expect(page.getByText(secret)).toHaveCount(0);
	await page.reload();
	await expect(page.getByTestId('token-row')).toContainText('Backup script');
	expect(await page.content()).not.toContain(secret);
	await snap(page, 'settings-tokens');

	await page.getByRole('button', { name: 'Revoke Backup script' }).click();
	await expect(page.getByTestId('token-row')).toContainText('Revoked');
	const after = await request.get('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
	expect(after.status()).toBe(401);

	// Not an administrator: no admin link, and the admin pages say so.
	await expect(page.getByRole('link', { name: 'Administration' })).toHaveCount(0);
	await page.goto('/admin/users');
	await expect(page.getByText('This part is for administrators.')).toBeVisible();
});
