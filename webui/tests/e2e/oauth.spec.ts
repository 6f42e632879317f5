import { expect, test } from '@playwright/test';
import { expectAccessible, snap, uniqueEmail } from './helpers';

test('sign in through the OpenID provider: its login and consent pages, then signed in here', async ({ page }) => {
	// The stack's provider "Test OP" is a real oidc-provider; any login is accepted, an "@" id is its email.
	const login = uniqueEmail('oidc');
	await page.goto('/login');
	const button = page.getByRole('link', { name: 'Continue with Test OP' });
	await expect(button).toBeVisible();
	await snap(page, 'login-providers');
	await expectAccessible(page);
	await button.click();

	await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/interaction\//);
	await page.locator('input[name="login"]').fill(login);
	await page.locator('input[name="password"]').fill('any password');
	await page.getByRole('button', { name: 'Sign-in' }).click();
	await page.getByRole('button', { name: 'Continue' }).click();

	await expect(page).toHaveURL(/\/calendar$/);
	await expect(page.locator('.who-name')).toHaveText(`Test ${login}`);
	await expect(page.getByRole('checkbox', { name: 'Personal' })).toBeChecked();
	await snap(page, 'oauth-signed-in');

	await page.goto('/settings/accounts');
	await expect(page.getByText(login).first()).toBeVisible();
	await snap(page, 'oauth-connected-account');
	await expectAccessible(page);
});
