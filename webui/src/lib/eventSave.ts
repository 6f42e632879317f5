/** Saving an edited occurrence with the "this / this and following / all" choice. */

import { events } from './api';
import type { EditScope, EventPatch, Occurrence } from './api/types';
import { apiTimes, shiftWall, wallDelta, wallOf } from './calendar';

export interface TimeChange {
	/** The occurrence's wall clocks before the edit, in the viewer's zone. */
	fromStart: string;
	start: string;
	end: string;
	allDay: boolean;
}

/**
 * PATCH one occurrence, the following ones, or the whole series. Moving "all events" shifts the
 * series' first start by as much as this occurrence moved, so every occurrence moves alike.
 */
export async function saveOccurrence(
	occurrence: Occurrence,
	scope: EditScope,
	zone: string,
	fields: EventPatch,
	time: TimeChange | null
): Promise<void> {
	const body: EventPatch = { ...fields };
	const effective: EditScope = occurrence.recurring ? scope : 'series';
	if (time) {
		if (effective === 'series' && occurrence.recurring && time.allDay === occurrence.all_day) {
			const series = await events.get(occurrence.event_id);
			const seriesStart = wallOf(series.start, zone);
			const shifted = shiftWall(seriesStart, wallDelta(time.fromStart, time.start));
			const shiftedEnd = shiftWall(shifted, wallDelta(time.start, time.end));
			Object.assign(body, apiTimes(shifted, shiftedEnd, time.allDay, zone));
		} else {
			Object.assign(body, apiTimes(time.start, time.end, time.allDay, zone));
		}
	}
	if (effective === 'occurrence') delete body.rrule;
	await events.update(
		occurrence.event_id,
		body,
		effective,
		effective === 'series' ? null : occurrence.recurrence_id
	);
}

export async function deleteOccurrence(occurrence: Occurrence, scope: EditScope): Promise<void> {
	const effective: EditScope = occurrence.recurring ? scope : 'series';
	await events.remove(occurrence.event_id, effective, effective === 'series' ? null : occurrence.recurrence_id);
}
