/**
 * The fetch wrapper every API call goes through: JSON in and out, the CSRF header on writes,
 * problems turned into {@link ApiError}s, and one hook for "the session is gone" (401).
 */

import { ApiError, NetworkError, type Problem } from './problem';

export const CSRF_COOKIE = 'aiwfe_csrf';
/** Over https the server sets the CSRF cookie as a `__Host-` cookie (Secure, Path=/, no Domain). */
export const HOST_CSRF_COOKIE = `__Host-${CSRF_COOKIE}`;
export const CSRF_HEADER = 'X-CSRF-Token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
	query?: Query;
	/** Sent as JSON. */
	json?: unknown;
	/** Sent as is (a file upload); give `contentType` with it. */
	body?: BodyInit;
	contentType?: string;
	headers?: Record<string, string>;
	/** A 401 is the expected answer here (signing in): don't treat it as an ended session. */
	allowUnauthenticated?: boolean;
	signal?: AbortSignal;
	/** The path is outside the API prefix (e.g. `/ready`). */
	absolute?: boolean;
}

export interface ClientOptions {
	/** Prefix of every path, e.g. `/api/v1` (a request with `absolute` goes outside it). */
	base?: string;
	fetch?: typeof fetch;
	/** Reads the cookie jar (document.cookie in the browser). */
	cookies?: () => string;
	/** Called once per 401 answer to a request that needed a session. */
	onUnauthenticated?: (error: ApiError) => void;
}

/** Value of one cookie from a `document.cookie` string. */
export function readCookie(jar: string, name: string): string | undefined {
	for (const part of jar.split(';')) {
		const eq = part.indexOf('=');
		if (eq < 0) continue;
		if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
	}
	return undefined;
}

/** `path` with `query`'s defined values appended. */
export function withQuery(path: string, query?: Query): string {
	if (!query) return path;
	const params = new URLSearchParams();
	for (const [key, value] of Object.entries(query)) {
		if (value !== undefined && value !== null && value !== '') params.append(key, String(value));
	}
	const text = params.toString();
	return text ? `${path}${path.includes('?') ? '&' : '?'}${text}` : path;
}

function retryAfterSeconds(response: Response): number | null {
	const value = response.headers.get('retry-after');
	if (!value) return null;
	const seconds = Number(value);
	return Number.isFinite(seconds) ? Math.max(0, Math.round(seconds)) : null;
}

async function problemOf(response: Response): Promise<Problem> {
	const type = response.headers.get('content-type') ?? '';
	if (type.includes('json')) {
		try {
			const body = (await response.json()) as unknown;
			if (body && typeof body === 'object') return body as Problem;
		} catch {
			// An unreadable body still has a status; fall through.
		}
	}
	return { status: response.status, title: response.statusText };
}

export class ApiClient {
	readonly base: string;
	private readonly fetcher: typeof fetch;
	private readonly cookies: () => string;
	onUnauthenticated: ((error: ApiError) => void) | undefined;

	constructor(options: ClientOptions = {}) {
		this.base = options.base ?? '/api/v1';
		this.fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
		this.cookies = options.cookies ?? (() => (typeof document === 'undefined' ? '' : document.cookie));
		this.onUnauthenticated = options.onUnauthenticated;
	}

	/** The CSRF token the server set at sign-in (readable cookie, echoed in a header on writes). */
	csrfToken(): string | undefined {
		const jar = this.cookies();
		return readCookie(jar, HOST_CSRF_COOKIE) ?? readCookie(jar, CSRF_COOKIE);
	}

	url(path: string, query?: Query, absolute = false): string {
		return withQuery(absolute || path.startsWith(`${this.base}/`) ? path : this.base + path, query);
	}

	/** The raw response of a request to an API path (`/me`), or an absolute one (`/ready`). */
	async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
		const upper = method.toUpperCase();
		const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
		let body: BodyInit | undefined = options.body;
		if (options.json !== undefined) {
			headers['Content-Type'] = 'application/json';
			body = JSON.stringify(options.json);
		} else if (options.contentType) {
			headers['Content-Type'] = options.contentType;
		}
		if (!SAFE_METHODS.has(upper)) {
			const csrf = this.csrfToken();
			if (csrf) headers[CSRF_HEADER] = csrf;
		}
		try {
			return await this.fetcher(this.url(path, options.query, options.absolute), {
				method: upper,
				headers,
				body,
				credentials: 'same-origin',
				signal: options.signal
			});
		} catch (error) {
			if (error instanceof DOMException && error.name === 'AbortError') throw error;
			throw new NetworkError();
		}
	}

	/** Send and decode: JSON body on success (undefined for 204), {@link ApiError} otherwise. */
	async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
		const response = await this.send(method, path, options);
		if (response.ok) {
			if (response.status === 204 || response.status === 205) return undefined as T;
			const type = response.headers.get('content-type') ?? '';
			if (!type.includes('json')) return (await response.text()) as T;
			return (await response.json()) as T;
		}
		const error = new ApiError(response.status, await problemOf(response), retryAfterSeconds(response));
		if (response.status === 401 && !options.allowUnauthenticated) this.onUnauthenticated?.(error);
		throw error;
	}

	get<T>(path: string, query?: Query, options: RequestOptions = {}): Promise<T> {
		return this.request<T>('GET', path, { ...options, query });
	}

	post<T>(path: string, json?: unknown, options: RequestOptions = {}): Promise<T> {
		return this.request<T>('POST', path, { ...options, json });
	}

	patch<T>(path: string, json: unknown, options: RequestOptions = {}): Promise<T> {
		return this.request<T>('PATCH', path, { ...options, json });
	}

	put<T>(path: string, json?: unknown, options: RequestOptions = {}): Promise<T> {
		return this.request<T>('PUT', path, { ...options, json });
	}

	delete<T = void>(path: string, options: RequestOptions = {}): Promise<T> {
		return this.request<T>('DELETE', path, options);
	}
}
