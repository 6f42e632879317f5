import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/lib/api/problem';
import { PendingReauth } from '../../src/lib/reauth.svelte';

const reauthRequired = () => new ApiError(403, { type: 'https://aiwfe.dev/problems/reauth-required', detail: 'confirm your password again' });

describe('PendingReauth', () => {
	it('passes an answer through and waits for nothing', async () => {
		const reauth = new PendingReauth();
		expect(await reauth.guard(async () => 'made', async () => {})()).toBe('made');
		expect(reauth.retry).toBeNull();
	});

	it('keeps the refused step and runs it once the password is confirmed', async () => {
		const reauth = new PendingReauth();
		let retried = 0;
		const guarded = reauth.guard(
			() => Promise.reject(reauthRequired()),
			async () => {
				retried += 1;
			}
		);
		expect(await guarded()).toBeUndefined();
		expect(reauth.retry).not.toBeNull();
		await reauth.confirmed();
		await reauth.confirmed();
		expect(retried).toBe(1);
		expect(reauth.retry).toBeNull();
	});

	it('forgets the step when cancelled', async () => {
		const reauth = new PendingReauth();
		let retried = false;
		await reauth.guard(
			() => Promise.reject(reauthRequired()),
			async () => {
				retried = true;
			}
		)();
		reauth.cancel();
		await reauth.confirmed();
		expect(retried).toBe(false);
	});

	it('lets any other failure through to the form', async () => {
		const reauth = new PendingReauth();
		const other = new ApiError(409, { detail: 'taken' });
		await expect(reauth.guard(() => Promise.reject(other), async () => {})()).rejects.toBe(other);
		expect(reauth.retry).toBeNull();
	});
});
