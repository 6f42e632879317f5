import { describe, expect, it, vi } from 'vitest';
import { ApiClient, readCookie, withQuery } from '../../src/lib/api/client';
import { ApiError, NetworkError } from '../../src/lib/api/problem';

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
	return new Response(status === 204 ? null : JSON.stringify(body), {
		status,
		headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers }
	});
}

function clientWith(response: Response | Error, cookies = 'aiwfe_csrf=tok%3D1; other=x') {
	const fetch = vi.fn(async () => {
		if (response instanceof Error) throw response;
		return response;
	});
	const onUnauthenticated = vi.fn();
	const client = new ApiClient({ fetch: fetch as unknown as typeof globalThis.fetch, cookies: () => cookies, onUnauthenticated });
	return { client, fetch, onUnauthenticated };
}

function sent(fetch: ReturnType<typeof vi.fn>): { url: string; init: RequestInit & { headers: Record<string, string> } } {
	const [url, init] = fetch.mock.calls[0] as [string, RequestInit & { headers: Record<string, string> }];
	return { url, init };
}

describe('ApiClient', () => {
	it('sends the CSRF cookie back in X-CSRF-Token on writes', async () => {
		const { client, fetch } = clientWith(jsonResponse(200, { ok: true }));
		await client.post('/me/sessions/revoke-others', { a: 1 });
		const { url, init } = sent(fetch);
		expect(url).toBe('/api/v1/me/sessions/revoke-others');
		expect(init.method).toBe('POST');
		expect(init.headers['X-CSRF-Token']).toBe('tok=1');
		expect(init.headers['Content-Type']).toBe('application/json');
		expect(init.body).toBe('{"a":1}');
		expect(init.credentials).toBe('same-origin');
	});

	it('prefers the __Host- CSRF cookie the server sets on https', async () => {
		const { client, fetch } = clientWith(jsonResponse(200, {}), 'aiwfe_csrf=stale; __Host-aiwfe_csrf=fresh');
		await client.post('/me/reauth', { password: 'x' });
		expect(sent(fetch).init.headers['X-CSRF-Token']).toBe('fresh');
	});

	it('sends no CSRF header on reads', async () => {
		const { client, fetch } = clientWith(jsonResponse(200, []));
		await client.get('/me/sessions', { limit: 5, before_id: undefined });
		const { url, init } = sent(fetch);
		expect(url).toBe('/api/v1/me/sessions?limit=5');
		expect(init.headers['X-CSRF-Token']).toBeUndefined();
	});

	it('returns undefined for 204', async () => {
		const { client } = clientWith(new Response(null, { status: 204 }));
		await expect(client.delete('/me/tokens/1')).resolves.toBeUndefined();
	});

	it('throws a problem as an ApiError with a sentence and its field', async () => {
		const { client } = clientWith(
			jsonResponse(409, { type: 'https://aiwfe.dev/problems/email-taken', title: 'x', status: 409, detail: 'an account with this email already exists', field: 'email' })
		);
		const error = (await client.post('/auth/register', {}).catch((e) => e)) as ApiError;
		expect(error).toBeInstanceOf(ApiError);
		expect(error.status).toBe(409);
		expect(error.field).toBe('email');
		expect(error.message).toBe('An account with this email already exists.');
	});

	it('reads Retry-After into the message', async () => {
		const { client } = clientWith(jsonResponse(429, { status: 429, detail: 'too many' }, { 'retry-after': '12' }));
		await expect(client.post('/auth/login', {})).rejects.toThrow('Too many attempts. Try again in 12 seconds.');
	});

	it('reports a 401 to the session hook, unless a 401 is expected', async () => {
		const first = clientWith(jsonResponse(401, { status: 401, detail: 'sign in first' }));
		await expect(first.client.get('/me')).rejects.toBeInstanceOf(ApiError);
		expect(first.onUnauthenticated).toHaveBeenCalledTimes(1);

		const second = clientWith(jsonResponse(401, { status: 401, detail: 'email or password is wrong' }));
		await expect(second.client.post('/auth/login', {}, { allowUnauthenticated: true })).rejects.toThrow('Email or password is wrong.');
		expect(second.onUnauthenticated).not.toHaveBeenCalled();
	});

	it('turns a failed fetch into a NetworkError', async () => {
		const { client } = clientWith(new TypeError('Failed to fetch'));
		await expect(client.get('/me')).rejects.toBeInstanceOf(NetworkError);
	});

	it('handles an error without a JSON body', async () => {
		const { client } = clientWith(new Response('Bad Gateway', { status: 502, statusText: 'Bad Gateway' }));
		await expect(client.get('/me')).rejects.toThrow('Bad Gateway.');
	});

	it('prefixes API paths and leaves absolute ones alone', () => {
		const { client } = clientWith(jsonResponse(200, {}));
		expect(client.url('/me')).toBe('/api/v1/me');
		expect(client.url('/ready', undefined, true)).toBe('/ready');
		expect(client.url('/api/v1/x')).toBe('/api/v1/x');
	});
});

describe('cookies and queries', () => {
	it('reads one cookie', () => {
		expect(readCookie('a=1; aiwfe_csrf=abc; b=2', 'aiwfe_csrf')).toBe('abc');
		expect(readCookie('a=1', 'aiwfe_csrf')).toBeUndefined();
	});

	it('drops empty query values', () => {
		expect(withQuery('/x', { a: 1, b: null, c: '', d: 'z y' })).toBe('/x?a=1&d=z+y');
		expect(withQuery('/x?scope=1', { q: 'a' })).toBe('/x?scope=1&q=a');
	});
});
