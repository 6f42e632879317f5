import { redirect } from '@sveltejs/kit';
import { HOME } from '$lib/redirect';

export function load() {
	redirect(307, HOME);
}
