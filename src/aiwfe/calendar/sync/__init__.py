"""Calendar sync sources: subscribed ICS URLs, CalDAV collections and Google calendars."""
