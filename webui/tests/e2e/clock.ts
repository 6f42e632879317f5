/**
 * The instant the date-dependent specs run at, so they pass on any day, at any hour, the suite runs.
 *
 * tests/webui/test_e2e.py sets AIWFE_E2E_NOW (an ISO instant with its offset) and runs the specs tagged `@dated`
 * again at other instants. The browser's clock starts there and runs on (Playwright's `clock.install`), so
 * timers, polling and the event stream keep working. A spec derives every date it types or expects from this
 * instant in the browser's zone, never from the machine's clock or zone (the specs' Node runs in UTC: main's CI
 * went red when it was still Sunday there and already Monday in the browser).
 *
 * Only the browser moves; the server keeps the real time. These specs give the API explicit dates and ranges,
 * so its "now" does not decide what they see, while sessions, TOTP codes and token expiry are checked against
 * the server's real clock and must stay real. That is also why the other specs keep the real browser clock:
 * the tokens page, for one, sends an expiry computed from the browser's clock.
 */

import { test as base } from '@playwright/test';

/** The zone of the browser (playwright.config.ts) and of the accounts the specs register. */
export const ZONE = 'Europe/Berlin';

// Monday 00:30 in Berlin, still Sunday in UTC: main's CI went red at such a time (issue #19).
const DEFAULT_NOW = '2026-12-07T00:30:00+01:00';

function instant(text: string): Date {
	const at = new Date(text);
	if (Number.isNaN(at.getTime()) || !/(Z|[+-]\d\d:\d\d)$/.test(text)) {
		throw new Error(`AIWFE_E2E_NOW must be an ISO instant with its offset, not ${JSON.stringify(text)}`);
	}
	return at;
}

export const NOW = instant(process.env.AIWFE_E2E_NOW || DEFAULT_NOW);

/** A calendar date as YYYY-MM-DD; the arithmetic below is on dates, in UTC, so no zone or DST shifts it. */
export type IsoDate = string;

/** The date in the browser's zone at `at`. */
export function dateIn(at: Date, zone = ZONE): IsoDate {
	return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

/** `days` days after `day` (before, if negative). */
export function addDays(day: IsoDate, days: number): IsoDate {
	const [y, m, d] = day.split('-').map(Number);
	return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** 0 for Sunday … 6 for Saturday. */
export function weekday(day: IsoDate): number {
	const [y, m, d] = day.split('-').map(Number);
	return new Date(Date.UTC(y, m - 1, d)).getUTCDay();
}

/** The Monday starting the week (Monday to Sunday, as the calendar shows it) that holds `day`. */
export function mondayOf(day: IsoDate): IsoDate {
	return addDays(day, -((weekday(day) + 6) % 7));
}

/** Today, in the browser, at the chosen instant. */
export const TODAY: IsoDate = dateIn(NOW);

/** A `test` whose page (and every page of its context) starts at NOW. */
export const test = base.extend({
	context: async ({ context }, use) => {
		await context.clock.install({ time: NOW });
		await use(context);
	}
});
