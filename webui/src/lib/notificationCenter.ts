/** The app's one notification centre, over the real API (the header's bell and the notifications page share it). */

import { notifications } from './api';
import { NotificationCenter } from './notifications.svelte';

export const notificationCenter = new NotificationCenter(notifications);
