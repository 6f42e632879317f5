/** Shapes of the API's bodies (see each domain's schemas.py under src/aiwfe). */

export type Role = 'user' | 'admin';
export type Scope = 'read' | 'write' | 'admin';

export interface User {
	id: string;
	email: string;
	display_name: string;
	time_zone: string;
	role: Role;
	is_active: boolean;
	email_verified: boolean;
	totp_enabled: boolean;
	created_at: string;
}

export interface LoginResult {
	mfa_required?: boolean;
	mfa_token?: string;
	user?: User;
	csrf_token?: string;
}

export interface Session {
	id: string;
	created_at: string;
	last_seen_at: string;
	ip: string;
	user_agent: string;
	mfa: boolean;
	current: boolean;
}

export interface TotpSetup {
	secret: string;
	otpauth_uri: string;
	qr_svg: string;
}

export interface AccessToken {
	id: string;
	name: string;
	scopes: Scope[];
	prefix: string;
	expires_at: string | null;
	last_used_at: string | null;
	revoked_at: string | null;
	created_at: string;
}

export interface CreatedAccessToken extends AccessToken {
	token: string;
}

export interface AuditEvent {
	id: number;
	user_id: string | null;
	actor_id: string | null;
	event: string;
	outcome: string;
	ip: string | null;
	user_agent: string | null;
	details: Record<string, unknown>;
	created_at: string;
}

export interface UserPage {
	total: number;
	items: User[];
}

/** Through the proxy only `status` (`ok` or `failed`); a direct request to an API replica has the rest. */
export interface ReadyCheck {
	status: string;
	latency_ms?: number;
	[key: string]: unknown;
}

export interface ReadyReport {
	status: string;
	version: string;
	checks: Record<string, ReadyCheck>;
	failed: string[];
	degraded: string[];
	detail?: string;
}

export interface Provider {
	name: string;
	display_name: string;
	kind: string;
	login_url: string;
}

export interface OAuthAccount {
	id: string;
	provider: string;
	email: string | null;
	email_verified: boolean;
	display_name: string;
	status: string;
	connected: boolean;
	scopes: string[];
	token_expires_at: string | null;
	last_login_at: string | null;
	last_refreshed_at: string | null;
	created_at: string;
}

// ---- calendar ---------------------------------------------------------------------------------

export interface EventTime {
	date?: string | null;
	date_time?: string | null;
	time_zone?: string | null;
}

export interface CalendarInfo {
	id: string;
	name: string;
	color: string;
	time_zone: string;
	source: CalendarSource;
	source_url: string | null;
	sync_status: SyncStatus;
	last_synced_at: string | null;
	sync_error: string | null;
	/** True for sources synced one way (ICS): their events cannot be edited here. */
	read_only?: boolean;
	feed_enabled: boolean;
	version: number;
	created_at: string;
	updated_at: string;
}

export interface Occurrence {
	id: string;
	event_id: string;
	override_id: string | null;
	calendar_id: string;
	uid: string;
	recurrence_id: string | null;
	recurring: boolean;
	summary: string;
	description: string;
	location: string;
	all_day: boolean;
	start: EventTime;
	end: EventTime;
	status: string;
	transparency: string;
	etag: string;
}

export interface OccurrencePage {
	items: Occurrence[];
	next_cursor: string | null;
	truncated: boolean;
}

export interface CalendarEvent {
	id: string;
	calendar_id: string;
	uid: string;
	recurrence_id: string | null;
	summary: string;
	description: string;
	location: string;
	all_day: boolean;
	start: EventTime;
	end: EventTime;
	rrule: string | null;
	rdates: string[];
	exdates: string[];
	status: string;
	transparency: string;
	sequence: number;
	etag: string;
}

export interface EventInput {
	calendar_id?: string;
	summary?: string;
	description?: string;
	location?: string;
	start?: EventTime;
	end?: EventTime;
	rrule?: string | null;
}

export type EditScope = 'series' | 'occurrence' | 'following';

export interface ImportJob {
	id: string;
	calendar_id: string;
	status: 'pending' | 'running' | 'succeeded' | 'failed';
	size_bytes: number;
	total: number;
	processed: number;
	created: number;
	updated: number;
	error: string | null;
	created_at: string;
	finished_at: string | null;
}

export interface Feed {
	url: string;
	token: string;
}

export type CalendarSource = 'local' | 'ics' | 'caldav' | 'google';
export type SyncStatus = 'not_synced' | 'pending' | 'syncing' | 'ok' | 'error';

/** POST /calendars: a local calendar, or one synced from a source (`password` is write-only). */
export interface CalendarInput {
	name: string;
	color: string;
	time_zone: string;
	source?: CalendarSource;
	source_url?: string;
	username?: string;
	password?: string;
	connected_account_id?: string;
	remote_calendar_id?: string;
}

// ---- jobs -------------------------------------------------------------------------------------

export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface Job {
	id: string;
	kind: string;
	status: JobStatus;
	title: string;
	processed: number;
	total: number;
	/** 0–100, or null while the total is not known. */
	percent: number | null;
	error: string | null;
	result: Record<string, unknown>;
	calendar_id: string | null;
	created_at: string;
	finished_at: string | null;
}

export interface JobPage {
	items: Job[];
	next_cursor: string | null;
}

// ---- reminders and notifications (docs/reminders.md) ----

export type ReminderChannel = 'email' | 'in_app' | 'webhook';

export interface Reminder {
	/** 0 = at the start; at most 40320 (4 weeks). */
	minutes_before: number;
	channel: ReminderChannel;
}

export interface AppNotification {
	id: string;
	kind: string;
	title: string;
	body: string;
	data: Record<string, unknown>;
	read_at: string | null;
	created_at: string;
}

export interface NotificationPage {
	items: AppNotification[];
	next_cursor: string | null;
	/** Unread notifications in total, not only on this page. */
	unread: number;
}

export interface WebhookSettings {
	url: string | null;
	secret_rotated_at: string | null;
	/** Only in the answer that made the secret: shown once. */
	secret?: string | null;
}

export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'skipped';

export interface WebhookDelivery {
	id: string;
	event_id: string;
	summary: string;
	occurrence_start: string;
	due_at: string;
	status: DeliveryStatus;
	late: boolean;
	attempts: number;
	sent_at: string | null;
	error: string | null;
}

export interface WebhookTestResult {
	ok: boolean;
	status_code: number | null;
	detail: string;
}
