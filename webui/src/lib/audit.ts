/** Audit-log event names as phrases a person reads. */

const EVENTS: Record<string, string> = {
	register: 'Account created',
	login: 'Signed in',
	login_password_ok: 'Password accepted, waiting for 2FA code',
	login_first_factor_ok: 'Provider sign-in accepted, waiting for 2FA code',
	login_mfa: 'Two-factor code checked',
	logout: 'Signed out',
	email_verified: 'Email verified',
	password_change: 'Password changed',
	password_reset: 'Password reset',
	password_reset_requested: 'Password reset requested',
	profile_updated: 'Profile updated',
	recovery_code_used: 'Recovery code used',
	session_revoked: 'Session signed out',
	token_created: 'Access token created',
	token_revoked: 'Access token revoked',
	totp_enabled: 'Two-factor turned on',
	totp_disabled: 'Two-factor turned off',
	user_deactivated: 'Account deactivated',
	user_reactivated: 'Account reactivated',
	admin_created: 'Administrator created',
	oauth_login: 'Signed in with a provider',
	oauth_link: 'Provider account linked'
};

export function describeEvent(event: string): string {
	if (EVENTS[event]) return EVENTS[event];
	const words = event.replace(/[_.]+/g, ' ');
	return words.charAt(0).toUpperCase() + words.slice(1);
}

export function outcomeKind(outcome: string): string {
	if (outcome === 'success' || outcome === 'ok') return 'badge-success';
	if (outcome === 'failed' || outcome === 'locked' || outcome === 'denied') return 'badge-danger';
	return '';
}
