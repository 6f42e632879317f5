"""CalDAV server for devices (RFC 4791, 6578, 6764) over the calendar domain's services."""
