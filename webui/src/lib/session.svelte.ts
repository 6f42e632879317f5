/** Who is signed in, shared by every page; filled by the signed-in layout, emptied at sign-out. */

import type { User } from '$lib/api';
import { setDisplayZone } from '$lib/time';

class SessionState {
	#user = $state<User | null>(null);

	get user(): User | null {
		return this.#user;
	}

	set user(value: User | null) {
		this.#user = value;
		setDisplayZone(value?.time_zone);
	}

	/** A one-time message for the next page (e.g. "Your session has ended"). */
	notice = $state<string | null>(null);

	get isAdmin(): boolean {
		return this.user?.role === 'admin';
	}
}

export const session = new SessionState();
