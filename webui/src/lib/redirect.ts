/** Where to go after signing in: only a path on this site, never back to the sign-in pages. */

const AUTH_PAGES = ['/login', '/register', '/forgot-password', '/reset-password', '/verify-email'];

export const HOME = '/calendar';

export function safeNext(value: string | null | undefined, fallback = HOME): string {
	if (!value || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return fallback;
	try {
		const url = new URL(value, 'http://same.origin');
		if (url.origin !== 'http://same.origin') return fallback;
		if (AUTH_PAGES.some((page) => url.pathname === page || url.pathname.startsWith(`${page}/`))) return fallback;
		return url.pathname + url.search + url.hash;
	} catch {
		return fallback;
	}
}

/** The sign-in URL that brings the user back to `here` afterwards. */
export function loginUrl(here: string, reason?: 'expired'): string {
	const params = new URLSearchParams();
	const next = safeNext(here, '');
	if (next && next !== HOME) params.set('next', next);
	if (reason) params.set('reason', reason);
	const text = params.toString();
	return text ? `/login?${text}` : '/login';
}
