/** The app's one API client and a function per endpoint it uses. */

import { ApiClient } from './client';
import type {
	AccessToken,
	AccessTokenInput,
	AdminUserPatch,
	AppNotification,
	AuditEvent,
	CalendarEvent,
	CalendarInfo,
	CalendarInput,
	CalendarPatch,
	CreatedAccessToken,
	EditScope,
	EventInput,
	EventPatch,
	Feed,
	ImportJob,
	Job,
	JobPage,
	LinkStart,
	LoginResult,
	MarkedRead,
	NotificationPage,
	OAuthAccount,
	OccurrencePage,
	ProfileInput,
	Provider,
	ReadyReport,
	Reauth,
	ReauthInput,
	RecoveryCodes,
	RegisterInput,
	Reminder,
	Session,
	TotpSetup,
	Unlinked,
	User,
	UserPage,
	WebhookDelivery,
	WebhookInput,
	WebhookSettings,
	WebhookTestResult
} from './types';

export { ApiClient, readCookie, withQuery } from './client';
export { ApiError, NetworkError, describeProblem } from './problem';
export type * from './types';

export const client = new ApiClient();

const open = { allowUnauthenticated: true };

export const auth = {
	register: (body: RegisterInput) =>
		client.post<User>('/auth/register', body, open),
	login: (email: string, password: string) =>
		client.post<LoginResult>('/auth/login', { email, password, mode: 'cookie' }, open),
	loginMfa: (mfa_token: string, code: { code?: string; recovery_code?: string }) =>
		client.post<LoginResult>('/auth/login/mfa', { mfa_token, ...code, mode: 'cookie' }, open),
	logout: () => client.post<void>('/auth/logout', undefined, open),
	verifyEmail: (token: string) => client.post<User>('/auth/verify-email', { token }, open),
	requestReset: (email: string) =>
		client.post<{ detail: string }>('/auth/password-reset/request', { email }, open),
	resetPassword: (token: string, new_password: string) =>
		client.post<void>('/auth/password-reset', { token, new_password }, open),
	providers: () => client.get<Provider[]>('/auth/providers', undefined, open)
};

export const me = {
	get: () => client.get<User>('/me'),
	/** The signed-in user, or null when there is no session (no redirect). */
	current: () => client.get<User>('/me', undefined, open),
	update: (body: ProfileInput) => client.patch<User>('/me', body),
	changePassword: (current_password: string, new_password: string) =>
		client.post<LoginResult>('/me/password', { current_password, new_password }),
	resendVerification: () => client.post<{ detail: string }>('/me/verify-email'),
	sessions: () => client.get<Session[]>('/me/sessions'),
	revokeSession: (id: string) => client.delete(`/me/sessions/${encodeURIComponent(id)}`),
	revokeOtherSessions: () => client.post<{ revoked: number }>('/me/sessions/revoke-others'),
	/** Confirm the password (or a TOTP code) again before tokens, two-factor changes, links, webhooks. */
	reauth: (body: ReauthInput) => client.post<Reauth>('/me/reauth', body),
	totpSetup: () => client.post<TotpSetup>('/me/totp/setup'),
	totpConfirm: (code: string) => client.post<RecoveryCodes>('/me/totp/confirm', { code }),
	totpDisable: (password: string, code: string) => client.post<void>('/me/totp/disable', { password, code }),
	tokens: () => client.get<AccessToken[]>('/me/tokens'),
	createToken: (body: AccessTokenInput) => client.post<CreatedAccessToken>('/me/tokens', body),
	revokeToken: (id: string) => client.delete(`/me/tokens/${id}`),
	audit: (before_id?: number, limit = 50) => client.get<AuditEvent[]>('/me/audit', { before_id, limit }),
	oauthAccounts: () => client.get<OAuthAccount[]>('/me/oauth/accounts'),
	linkProvider: (provider: string, next = '/settings/accounts') =>
		client.post<LinkStart>(
			`/me/oauth/${encodeURIComponent(provider)}/link`,
			undefined,
			{ query: { next } }
		),
	unlinkAccount: (id: string) => client.delete<Unlinked>(`/me/oauth/accounts/${id}`)
};

export const admin = {
	users: (q: string, limit: number, offset: number) => client.get<UserPage>('/admin/users', { q, limit, offset }),
	updateUser: (id: string, body: AdminUserPatch) => client.patch<User>(`/admin/users/${id}`, body),
	audit: (before_id?: number, limit = 50) => client.get<AuditEvent[]>('/admin/audit', { before_id, limit })
};

/** GET /ready: 200 or 503, both with the same report body. */
export async function readiness(): Promise<{ httpStatus: number; report: ReadyReport }> {
	const response = await client.send('GET', '/ready', { absolute: true });
	const report = (await response.json()) as ReadyReport;
	return { httpStatus: response.status, report };
}

export const calendars = {
	list: () => client.get<CalendarInfo[]>('/calendars'),
	get: (id: string) => client.get<CalendarInfo>(`/calendars/${id}`),
	create: (body: CalendarInput) => client.post<CalendarInfo>('/calendars', body),
	/** Ask for a sync now (202, status `pending`); 409 for a local calendar. */
	sync: (id: string) => client.post<CalendarInfo>(`/calendars/${id}/sync`),
	update: (id: string, body: CalendarPatch) => client.patch<CalendarInfo>(`/calendars/${id}`, body),
	remove: (id: string) => client.delete(`/calendars/${id}`),
	exportUrl: (id: string) => client.url(`/calendars/${id}/export`),
	enableFeed: (id: string) => client.put<Feed>(`/calendars/${id}/feed`),
	revokeFeed: (id: string) => client.delete(`/calendars/${id}/feed`),
	importIcs: (id: string, file: Blob) =>
		client.request<ImportJob>('POST', `/calendars/${id}/import`, { body: file, contentType: 'text/calendar' }),
	importStatus: (id: string, importId: string) => client.get<ImportJob>(`/calendars/${id}/imports/${importId}`)
};

export const events = {
	range: (start: string, end: string, cursor?: string | null, signal?: AbortSignal) =>
		client.get<OccurrencePage>('/events', { start, end, cursor, limit: 500 }, { signal }),
	get: (id: string) => client.get<CalendarEvent>(`/events/${id}`),
	create: (body: EventInput) => client.post<CalendarEvent>('/events', body),
	update: (id: string, body: EventPatch, scope: EditScope = 'series', recurrence_id?: string | null) =>
		client.patch<CalendarEvent>(`/events/${id}`, body, { query: { scope, recurrence_id } }),
	remove: (id: string, scope: EditScope = 'series', recurrence_id?: string | null) =>
		client.delete(`/events/${id}`, { query: { scope, recurrence_id } })
};

export const jobs = {
	list: (cursor?: string | null, limit = 20) => client.get<JobPage>('/jobs', { cursor, limit }),
	get: (id: string) => client.get<Job>(`/jobs/${id}`),
	/** The job's progress as server-sent events (`progress`, then `done`), for an EventSource. */
	eventsUrl: (id: string) => client.url(`/jobs/${id}/events`)
};

export const reminders = {
	/** The reminders of the event's whole series (an override's id stands for its series). */
	get: (eventId: string) => client.get<Reminder[]>(`/events/${eventId}/reminders`),
	set: (eventId: string, items: Reminder[]) => client.put<Reminder[]>(`/events/${eventId}/reminders`, items),
	webhook: () => client.get<WebhookSettings>('/reminders/webhook'),
	/** `url: null` disables; the answer carries `secret` only when one was made (first time, or rotated). */
	configureWebhook: (body: WebhookInput) => client.post<WebhookSettings>('/reminders/webhook', body),
	testWebhook: () => client.post<WebhookTestResult>('/reminders/webhook/test'),
	deliveries: (limit = 20) => client.get<WebhookDelivery[]>('/reminders/webhook/deliveries', { limit })
};

export const notifications = {
	list: (query: { limit?: number; unread?: boolean; cursor?: string | null } = {}) =>
		client.get<NotificationPage>('/notifications', query),
	markRead: (id: string) => client.post<AppNotification>(`/notifications/${id}/read`),
	markAllRead: () => client.post<MarkedRead>('/notifications/read-all')
};
