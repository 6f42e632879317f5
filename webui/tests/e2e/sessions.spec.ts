import { expect, test } from '@playwright/test';
import { PASSWORD, expectAccessible, registerByApi, signIn, snap, uniqueEmail } from './helpers';

// The stack allows 10 sign-ups an hour from one address: the specs together make 8.

test('a revoked or expired session returns to sign-in, then back to the page it was on', async ({ browser, request }) => {
	const email = uniqueEmail('linus');
	await registerByApi(request, email, 'Linus');

	const laptop = await browser.newContext();
	const phone = await browser.newContext();
	const onLaptop = await laptop.newPage();
	const onPhone = await phone.newPage();
	await signIn(onLaptop, email);
	await expect(onLaptop).toHaveURL(/\/calendar$/);
	await onLaptop.goto('/settings/tokens');
	await expect(onLaptop.getByRole('heading', { name: 'New access token' })).toBeVisible();

	await signIn(onPhone, email);
	await expect(onPhone).toHaveURL(/\/calendar$/);
	await onPhone.goto('/settings/sessions');
	const rows = onPhone.getByTestId('session-row');
	await expect(rows).toHaveCount(2);
	await expect(onPhone.getByText('This device')).toHaveCount(1);
	await snap(onPhone, 'settings-sessions');
	await expectAccessible(onPhone);
	await onPhone.locator('[data-testid="session-row"][data-current="false"]').getByRole('button', { name: /Sign out/ }).click();
	await expect(onPhone.getByText(/^Signed out /)).toBeVisible();
	await expect(rows).toHaveCount(1);

	// The laptop's next request finds its session gone: sign in, and land where it was.
	await onLaptop.getByRole('link', { name: 'Sessions' }).click();
	await expect(onLaptop).toHaveURL(/\/login\?next=%2Fsettings%2Fsessions&reason=expired$/);
	await expect(onLaptop.getByText('Your session has ended. Sign in again to continue.')).toBeVisible();
	await snap(onLaptop, 'login-session-expired');
	await onLaptop.getByLabel('Email').fill(email);
	await onLaptop.getByLabel('Password').fill(PASSWORD);
	await onLaptop.getByRole('button', { name: 'Sign in' }).click();
	await expect(onLaptop).toHaveURL(/\/settings\/sessions$/);

	// A write whose session expired while the page was open also returns to sign-in, and back.
	await onLaptop.goto('/settings');
	await expect(onLaptop.getByRole('heading', { name: 'Profile' })).toBeVisible();
	await laptop.clearCookies({ name: 'aiwfe_session' });
	await onLaptop.getByLabel('Name').fill('Linus T.');
	await onLaptop.getByRole('button', { name: 'Save profile' }).click();
	await expect(onLaptop).toHaveURL(/\/login\?next=%2Fsettings&reason=expired$/);
	await onLaptop.getByLabel('Email').fill(email);
	await onLaptop.getByLabel('Password').fill(PASSWORD);
	await onLaptop.getByRole('button', { name: 'Sign in' }).click();
	await expect(onLaptop).toHaveURL(/\/settings$/);
	await onLaptop.getByLabel('Name').fill('Linus T.');
	await onLaptop.getByRole('button', { name: 'Save profile' }).click();
	await expect(onLaptop.getByText('Profile saved.')).toBeVisible();

	await laptop.close();
	await phone.close();
});
