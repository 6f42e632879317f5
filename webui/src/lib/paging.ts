/** Cursor-paged lists (jobs, notifications): pages overlap when new items arrive between two reads. */

/** The items of `page` that `known` does not hold yet, in the page's order. */
export function unseen<T extends { id: string }>(known: readonly T[], page: readonly T[]): T[] {
	const ids = new Set(known.map((item) => item.id));
	return page.filter((item) => !ids.has(item.id));
}
