import { redirect } from '@sveltejs/kit';
import { ApiError, me } from '$lib/api';
import { loginUrl } from '$lib/redirect';
import { session } from '$lib/session.svelte';
import type { LayoutLoad } from './$types';

// Every signed-in page checks the session as it opens; without one, sign in and come back here.
export const load: LayoutLoad = async ({ url }) => {
	try {
		const user = await me.current();
		session.user = user;
		return { user };
	} catch (error) {
		if (error instanceof ApiError && error.status === 401) {
			const expired = session.user !== null;
			session.user = null;
			if (expired) session.notice = 'Your session has ended. Sign in again to continue.';
			redirect(307, loginUrl(url.pathname + url.search, expired ? 'expired' : undefined));
		}
		throw error;
	}
};
