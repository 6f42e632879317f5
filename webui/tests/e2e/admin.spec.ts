import { expect, test } from '@playwright/test';
import { ADMIN, expectAccessible, registerByApi, signIn, snap, uniqueEmail } from './helpers';

test('an administrator finds a user, deactivates them, makes another an admin, and sees system health', async ({ page, request }) => {
	test.skip(!ADMIN.password, 'AIWFE_E2E_ADMIN_PASSWORD is not set');
	const target = uniqueEmail('mallory');
	const helper = uniqueEmail('margaret');
	await registerByApi(request, target, 'Mallory');
	await registerByApi(request, helper, 'Margaret');

	await signIn(page, ADMIN.email, ADMIN.password);
	await expect(page).toHaveURL(/\/calendar$/);
	await page.getByRole('link', { name: 'Administration' }).click();
	await expect(page).toHaveURL(/\/admin\/users$/);
	await expect(page.getByTestId('user-row').first()).toBeVisible();
	await snap(page, 'admin-users');
	await expectAccessible(page);

	await page.getByLabel('Search users').fill('mallory');
	await expect(page.getByTestId('user-row')).toHaveCount(1);
	await page.getByRole('button', { name: `Deactivate ${target}` }).click();
	await expect(page.getByRole('dialog', { name: 'Deactivate this account?' })).toBeVisible();
	await snap(page, 'admin-deactivate-dialog');
	await page.getByRole('dialog').getByRole('button', { name: 'Deactivate' }).click();
	await expect(page.getByTestId('user-row')).toContainText('Deactivated');
	await expect(page.getByText(`${target} is deactivated and signed out everywhere.`)).toBeVisible();
	const refused = await request.post('/api/v1/auth/login', { data: { email: target, password: 'a quiet harbour at dawn 42', mode: 'token' } });
	expect(refused.status()).toBe(401);

	await page.getByLabel('Search users').fill('margaret');
	await expect(page.getByTestId('user-row')).toHaveCount(1);
	await page.getByLabel(`Role of ${helper}`).selectOption('admin');
	await expect(page.getByText(`${helper} is now an administrator.`)).toBeVisible();

	await page.getByRole('link', { name: 'System health' }).click();
	await expect(page.getByTestId('health-summary')).toContainText(/healthy|Degraded/);
	await expect(page.getByTestId('health-check')).toHaveCount(5);
	await snap(page, 'admin-health');
	await expectAccessible(page);

	await page.getByRole('link', { name: 'Audit log' }).click();
	await expect(page.getByRole('cell', { name: 'Account deactivated' })).toBeVisible();
	await snap(page, 'admin-audit');
});
