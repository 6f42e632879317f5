import { expect, test } from '@playwright/test';
import { PASSWORD, expectAccessible, linkFromMail, signIn, snap, totpCode, uniqueEmail } from './helpers';

test('sign up, verify by mail, sign in, edit the profile, turn on 2FA and sign in again with a code', async ({ page }) => {
	const email = uniqueEmail('grace');

	// Sign up; the API's problem comes back as a sentence next to the field.
	await page.goto('/register');
	await page.getByLabel('Name').fill('Grace Hopper');
	await page.getByLabel('Email').fill(email);
	await page.getByLabel('Password').fill('too short');
	await page.getByRole('button', { name: 'Create account' }).click();
	await expect(page.getByText('Use at least 12 characters.')).toBeVisible();
	await expect(page.getByLabel('Password')).toHaveAttribute('aria-invalid', 'true');
	await snap(page, 'register-problem');
	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByRole('button', { name: 'Create account' }).click();
	await expect(page.getByRole('heading', { name: 'Check your inbox' })).toBeVisible();
	await snap(page, 'register-done');

	// The link mailed through the stack's SMTP sink verifies the address.
	await page.goto(await linkFromMail(email, '/verify-email'));
	await expect(page.getByText('Your email address is confirmed.')).toBeVisible();
	await snap(page, 'verify-email');

	// A wrong password is a sentence too.
	await signIn(page, email, 'not the right password at all');
	await expect(page.getByText('Email or password is wrong.')).toBeVisible();
	await snap(page, 'login-problem');
	await expectAccessible(page);

	await signIn(page, email);
	await expect(page).toHaveURL(/\/calendar$/);
	await expect(page.getByRole('link', { name: 'Calendar' })).toHaveAttribute('aria-current', 'page');

	// Profile.
	await page.getByRole('link', { name: 'Settings' }).click();
	await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();
	await page.getByLabel('Name').fill('Grace B. Hopper');
	await page.getByLabel('Time zone').selectOption('America/New_York');
	await page.getByRole('button', { name: 'Save profile' }).click();
	await expect(page.getByText('Profile saved.')).toBeVisible();
	await expect(page.locator('.who-name')).toHaveText('Grace B. Hopper');
	await snap(page, 'settings-profile');
	await expectAccessible(page);

	// Two-factor enrolment: QR code, key, code, recovery codes.
	await page.getByRole('link', { name: 'Password & 2FA' }).click();
	await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
	await expect(page.getByRole('img', { name: /QR code/ })).toBeVisible();
	const secret = (await page.getByTestId('totp-secret').textContent()) ?? '';
	await snap(page, 'settings-2fa-setup');
	await page.getByLabel('Code from the app').fill(totpCode(secret));
	await page.getByRole('button', { name: 'Turn on two-factor' }).click();
	await expect(page.getByRole('heading', { name: 'Save your recovery codes' })).toBeVisible();
	await expect(page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem')).toHaveCount(10);
	await snap(page, 'settings-2fa-recovery-codes');
	await expectAccessible(page);
	await page.getByRole('button', { name: 'I have saved them' }).click();
	await expect(page.getByRole('button', { name: 'Turn off two-factor' })).toBeVisible();

	// Sign out, and back in with password then a TOTP code.
	await page.getByRole('button', { name: 'Sign out' }).click();
	await expect(page).toHaveURL(/\/login$/);
	await signIn(page, email);
	await expect(page.getByRole('heading', { name: 'Two-factor authentication' })).toBeVisible();
	await page.getByLabel('Authentication code').fill('000000');
	await page.getByRole('button', { name: 'Verify and sign in' }).click();
	await expect(page.getByText('The code is wrong or was already used.')).toBeVisible();
	// The API names the field (`code`): the sentence sits under the code input, which is marked invalid.
	await expect(page.getByLabel('Authentication code')).toHaveAttribute('aria-invalid', 'true');
	await snap(page, 'login-totp');
	// The enrolment used this period's code; the server accepts the next period's once.
	await page.getByLabel('Authentication code').fill(totpCode(secret, 1));
	await page.getByRole('button', { name: 'Verify and sign in' }).click();
	await expect(page).toHaveURL(/\/calendar$/);

	// The audit log shows what happened, in words.
	await page.goto('/settings/activity');
	await expect(page.getByRole('cell', { name: 'Two-factor turned on' })).toBeVisible();
	await expect(page.getByRole('cell', { name: 'Email verified' })).toBeVisible();
	await snap(page, 'settings-activity');
	await expectAccessible(page);
});

test('forgot password mails a link whose page sets a new password', async ({ page, request }) => {
	const email = uniqueEmail('reset');
	const response = await request.post('/api/v1/auth/register', { data: { email, password: PASSWORD } });
	expect(response.status()).toBe(201);
	await page.goto('/login');
	await page.getByRole('link', { name: 'Forgot your password?' }).click();
	// The sign-in page has an Email field too: fill only once the client router has swapped the page, or the
	// text goes into the old field and the reset form is sent empty.
	await expect(page.getByRole('heading', { name: 'Reset your password' })).toBeVisible();
	await page.getByLabel('Email').fill(email);
	await page.getByRole('button', { name: 'Send reset link' }).click();
	await expect(page.getByText(/a reset link is on its way/)).toBeVisible();
	await snap(page, 'forgot-password');

	await page.goto(await linkFromMail(email, '/reset-password'));
	await page.getByLabel('New password', { exact: true }).fill('a brand new harbour at dusk');
	await page.getByLabel('Confirm new password').fill('a different one entirely');
	await page.getByRole('button', { name: 'Set new password' }).click();
	await expect(page.getByText('The two passwords are not the same.')).toBeVisible();
	// The password policy's answer names `new_password`: it shows under that input.
	await page.getByLabel('New password', { exact: true }).fill('too short');
	await page.getByLabel('Confirm new password').fill('too short');
	await page.getByRole('button', { name: 'Set new password' }).click();
	await expect(page.getByText('Use at least 12 characters.')).toBeVisible();
	await expect(page.getByLabel('New password', { exact: true })).toHaveAttribute('aria-invalid', 'true');
	await snap(page, 'reset-password-weak');
	await page.getByLabel('New password', { exact: true }).fill('a brand new harbour at dusk');
	await page.getByLabel('Confirm new password').fill('a brand new harbour at dusk');
	await snap(page, 'reset-password');
	await page.getByRole('button', { name: 'Set new password' }).click();
	await expect(page.getByText('Password changed.')).toBeVisible();
	await signIn(page, email, 'a brand new harbour at dusk');
	await expect(page).toHaveURL(/\/calendar$/);
});
