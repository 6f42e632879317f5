import { flushSync, mount, unmount } from 'svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/lib/api/types';
import JobProgress from '../../src/lib/components/JobProgress.svelte';
import TimeZoneSelect from '../../src/lib/components/TimeZoneSelect.svelte';
import CalendarForm from '../../src/lib/components/calendar/CalendarForm.svelte';
import { FormState } from '../../src/lib/forms.svelte';

const running: Job = {
	id: 'j1',
	kind: 'calendar_import',
	status: 'running',
	title: 'Import into “Work”',
	processed: 300,
	total: 1200,
	percent: 25,
	error: null,
	result: {},
	calendar_id: 'c1',
	created_at: '2026-11-28T10:00:00Z',
	finished_at: null
};

let mounted: Record<string, unknown> | null = null;
afterEach(() => {
	if (mounted) unmount(mounted);
	mounted = null;
	document.body.innerHTML = '';
});

function render(job: Job): HTMLElement {
	mounted = mount(JobProgress, { target: document.body, props: { job } });
	flushSync();
	return document.body;
}

describe('JobProgress', () => {
	it('shows a labelled bar with the percentage and the count', () => {
		const body = render(running);
		const bar = body.querySelector('progress');
		expect(bar?.getAttribute('aria-label')).toBe('Import into “Work”: progress');
		expect(bar?.value).toBe(25);
		expect(body.textContent).toContain('25%');
		expect(body.textContent).toContain('300 of 1,200 events');
	});

	it('shows an indeterminate bar while the total is unknown', () => {
		const body = render({ ...running, total: 0, processed: 0, percent: null });
		expect(body.querySelector('progress')?.hasAttribute('value')).toBe(false);
		expect(body.textContent).toContain('Reading the file…');
	});

	it('shows the reason instead of a bar when the job failed', () => {
		const body = render({ ...running, status: 'failed', error: 'the file is not an iCalendar file' });
		expect(body.querySelector('progress')).toBeNull();
		expect(body.querySelector('[data-status="failed"]')?.textContent).toContain('the file is not an iCalendar file');
	});
});

describe('TimeZoneSelect', () => {
	function renderZone(props: { value: string; hint?: string; error?: string | null }) {
		mounted = mount(TimeZoneSelect, { target: document.body, props: { id: 'zone', ...props } });
		flushSync();
		return document.body.querySelector('select') as HTMLSelectElement;
	}

	it('labels the select and lists the zones UTC first, underscores as spaces', () => {
		const select = renderZone({ value: 'America/New_York' });
		expect(document.body.querySelector('label[for="zone"]')?.textContent).toBe('Time zone');
		expect(select.id).toBe('zone');
		expect(select.options[0].value).toBe('UTC');
		const chosen = select.selectedOptions[0];
		expect(chosen.value).toBe('America/New_York');
		expect(chosen.textContent).toBe('America/New York');
	});

	it('shows the hint while there is no error', () => {
		const select = renderZone({ value: 'UTC', hint: 'New events repeat in this zone.' });
		expect(document.body.textContent).toContain('New events repeat in this zone.');
		expect(select.hasAttribute('aria-invalid')).toBe(false);
		expect(document.body.querySelector('[role="alert"]')).toBeNull();
	});

	it('shows an error as an alert instead of the hint and marks the select invalid', () => {
		const select = renderZone({ value: 'UTC', hint: 'New events repeat in this zone.', error: 'Unknown time zone' });
		expect(document.body.querySelector('[role="alert"]')?.textContent).toBe('Unknown time zone');
		expect(select.getAttribute('aria-invalid')).toBe('true');
		expect(document.body.textContent).not.toContain('New events repeat in this zone.');
	});

	it('writes the chosen zone back to its bound value', () => {
		let value = 'UTC';
		mounted = mount(TimeZoneSelect, {
			target: document.body,
			props: {
				id: 'zone',
				get value() {
					return value;
				},
				set value(next: string) {
					value = next;
				}
			}
		});
		flushSync();
		const select = document.body.querySelector('select') as HTMLSelectElement;
		select.value = 'Europe/Berlin';
		select.dispatchEvent(new Event('change'));
		flushSync();
		expect(value).toBe('Europe/Berlin');
	});
});

describe('CalendarForm', () => {
	it('shows the API’s time zone error beside the zone select', () => {
		const form = new FormState(['name', 'color', 'time_zone']);
		mounted = mount(CalendarForm, {
			target: document.body,
			props: { id: 'calendar-form', calendar: null, defaultZone: 'UTC', form, onsaved: () => {} }
		});
		form.fields = { time_zone: 'Unknown time zone' };
		flushSync();
		const select = document.body.querySelector('#calendar-zone') as HTMLSelectElement;
		expect(select.getAttribute('aria-invalid')).toBe('true');
		expect(select.parentElement?.querySelector('[role="alert"]')?.textContent).toBe('Unknown time zone');
	});
});
