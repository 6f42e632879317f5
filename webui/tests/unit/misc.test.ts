import { describe, expect, it } from 'vitest';
import { describeAgent } from '../../src/lib/agent';
import { ApiError, NetworkError } from '../../src/lib/api/problem';
import { describeEvent } from '../../src/lib/audit';
import { errorMessage, placeError } from '../../src/lib/forms';
import { unseen } from '../../src/lib/paging';
import { loginUrl, safeNext } from '../../src/lib/redirect';

describe('safeNext', () => {
	it('keeps paths on this site', () => {
		expect(safeNext('/settings/tokens?x=1')).toBe('/settings/tokens?x=1');
	});

	it('refuses other sites and the sign-in pages', () => {
		for (const bad of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)', '/login?next=/x', '/register']) {
			expect(safeNext(bad)).toBe('/calendar');
		}
		expect(safeNext(null)).toBe('/calendar');
	});

	it('builds the sign-in URL that comes back here', () => {
		expect(loginUrl('/settings/sessions', 'expired')).toBe('/login?next=%2Fsettings%2Fsessions&reason=expired');
		expect(loginUrl('/calendar')).toBe('/login');
	});
});

describe('placeError', () => {
	const taken = new ApiError(409, { detail: 'an account with this email already exists', field: 'email' });

	it('puts a problem next to the field it names', () => {
		expect(placeError(taken, ['email', 'password'])).toEqual({ field: 'email', message: 'An account with this email already exists.' });
	});

	it('maps API field names onto the form', () => {
		const weak = new ApiError(422, { detail: 'use at least 12 characters', field: 'password' });
		expect(placeError(weak, ['new_password'], { password: 'new_password' }).field).toBe('new_password');
	});

	it('puts the password policy and TOTP answers next to the inputs the API names', () => {
		const weak = new ApiError(422, { type: 'https://aiwfe.dev/problems/weak-password', detail: 'use at least 12 characters', field: 'new_password' });
		expect(placeError(weak, ['current_password', 'new_password', 'confirm'])).toEqual({ field: 'new_password', message: 'Use at least 12 characters.' });
		const wrongCode = new ApiError(401, { type: 'https://aiwfe.dev/problems/invalid-mfa-code', detail: 'the code is wrong or was already used', field: 'code' });
		expect(placeError(wrongCode, ['email', 'password', 'code', 'recovery_code']).field).toBe('code');
	});

	it('puts other problems above the form', () => {
		expect(placeError(taken, ['name']).field).toBeNull();
		expect(placeError(new NetworkError(), ['email']).message).toMatch(/could not be reached/);
		expect(errorMessage(new Error('boom'))).toMatch(/Something went wrong/);
	});
});

describe('words for machines', () => {
	it('describes browsers', () => {
		expect(describeAgent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36')).toBe('Chrome on Linux');
		expect(describeAgent('Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Gecko/20100101 Firefox/130.0')).toBe('Firefox on macOS');
		expect(describeAgent('python-httpx/0.28')).toBe('Python client');
		expect(describeAgent('')).toBe('Unknown device');
	});

	it('describes audit events', () => {
		expect(describeEvent('totp_enabled')).toBe('Two-factor turned on');
		expect(describeEvent('calendar_shared')).toBe('Calendar shared');
	});
});

describe('unseen', () => {
	it('keeps only the page items the list does not hold, in the page order', () => {
		const known = [{ id: 'b' }, { id: 'c' }];
		expect(unseen(known, [{ id: 'c' }, { id: 'd' }, { id: 'a' }]).map((item) => item.id)).toEqual(['d', 'a']);
		expect(unseen([], [{ id: 'x' }])).toEqual([{ id: 'x' }]);
	});
});
