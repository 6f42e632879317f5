/**
 * Shapes of the API's bodies, named for the UI: aliases onto schema.d.ts, which openapi-typescript generates
 * from the API's OpenAPI document (`make api-types`; tests/webui/test_api_types.py fails when it is stale).
 */

import type { components, operations } from './schema';

type Schemas = components['schemas'];

// ---- accounts ---------------------------------------------------------------------------------

export type Role = Schemas['Role'];
export type Scope = Schemas['AccessTokenIn']['scopes'][number];
export type User = Schemas['UserOut'];
export type RegisterInput = Schemas['RegisterIn'];
export type ProfileInput = Schemas['ProfileIn'];
export type LoginResult = Schemas['LoginOut'];
export type Session = Schemas['SessionOut'];
export type TotpSetup = Schemas['TotpSetupOut'];
export type AccessToken = Schemas['AccessTokenOut'];
export type AccessTokenInput = Schemas['AccessTokenIn'];
export type CreatedAccessToken = Schemas['AccessTokenCreatedOut'];
export type AuditEvent = Schemas['AuditEventOut'];
export type AdminUserPatch = Schemas['AdminUserPatch'];
export type Provider = Schemas['ProviderOut'];
export type OAuthAccount = Schemas['OAuthAccountOut'];
export type ReauthInput = Schemas['ReauthIn'];
export type Reauth = Schemas['ReauthOut'];
export type RecoveryCodes = Schemas['RecoveryCodesOut'];
export type LinkStart = Schemas['LinkStartOut'];
export type Unlinked = Schemas['UnlinkedOut'];

export type UserPage = Schemas['UserPageOut'];
/** GET /ready: through the proxy a check has only `status` (`ok` or `failed`); a direct request to an API
 * replica has the rest. */
export type ReadyCheck = Schemas['ReadyCheckOut'];
export type ReadyReport = Schemas['ReadyOut'];

// ---- calendar ---------------------------------------------------------------------------------

export type EventTime = Schemas['EventTime'];
export type CalendarSource = Schemas['CalendarSource'];
export type SyncStatus = Schemas['SyncStatus'];
export type CalendarInfo = Schemas['CalendarOut'];
/** POST /calendars: a local calendar, or one synced from a source (`password` is write-only). */
export type CalendarInput = Schemas['CalendarIn'];
export type CalendarPatch = Schemas['CalendarPatch'];
export type Occurrence = Schemas['OccurrenceOut'];
export type OccurrencePage = Schemas['OccurrencePage'];
export type CalendarEvent = Schemas['EventOut'];
/** POST /events. */
export type EventInput = Schemas['EventIn'];
/** PATCH /events/{id}: only what changes. */
export type EventPatch = Schemas['EventPatch'];
export type EditScope = NonNullable<
	NonNullable<operations['update_event_api_v1_events__event_id__patch']['parameters']['query']>['scope']
>;
export type ImportJob = Schemas['ImportOut'];
export type Feed = Schemas['FeedOut'];

// ---- jobs -------------------------------------------------------------------------------------

export type JobStatus = Schemas['JobStatus'];
export type Job = Schemas['JobOut'];
export type JobPage = Schemas['JobPage'];

// ---- reminders and notifications (docs/reminders.md) ------------------------------------------

export type ReminderChannel = Schemas['Channel'];
export type Reminder = Schemas['ReminderOut'];
export type AppNotification = Schemas['NotificationOut'];
export type NotificationPage = Schemas['NotificationPage'];
export type MarkedRead = Schemas['MarkedRead'];
export type WebhookSettings = Schemas['WebhookOut'];
export type WebhookInput = Schemas['WebhookIn'];
export type DeliveryStatus = Schemas['DeliveryStatus'];
export type WebhookDelivery = Schemas['WebhookDeliveryOut'];
export type WebhookTestResult = Schemas['WebhookTestOut'];

