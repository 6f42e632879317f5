"""The ``CALDAV:filter`` of a calendar-query (RFC 4791 9.7), read into a small tree and matched against a
UID's rows. Time ranges are matched by the calendar domain's recurrence expansion."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from aiwfe.caldav.errors import CALDAV, BadDavRequest, DavPrecondition
from aiwfe.caldav.xml import children, tag
from aiwfe.calendar.models import Event

# Far enough for any calendar (recurrence keeps years 1900-2200): an open range end.
FAR_PAST = datetime(1900, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2200, 12, 31, tzinfo=UTC)
_TEXT_PROPS = {
    "UID": lambda row: row.uid,
    "SUMMARY": lambda row: row.summary,
    "DESCRIPTION": lambda row: row.description,
    "LOCATION": lambda row: row.location,
    "STATUS": lambda row: row.status.value.upper(),
    "TRANSP": lambda row: row.transparency.value.upper(),
}


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime


@dataclass
class PropFilter:
    name: str
    is_not_defined: bool = False
    text: str | None = None
    negate: bool = False
    collation: str = "i;ascii-casemap"

    def matches(self, row: Event) -> bool:
        read = _TEXT_PROPS.get(self.name)
        value = read(row) if read is not None else None
        defined = bool(value) or self.name in ("UID", "STATUS", "TRANSP")
        if self.is_not_defined:
            return not defined
        if not defined or value is None:
            return False
        if self.text is None:
            return True
        if self.collation == "i;octet":
            found = self.text in value
        else:
            found = self.text.casefold() in value.casefold()
        return found != self.negate


@dataclass
class Filter:
    """What a calendar-query asks for: VEVENTs (others match nothing here), a time range, property tests."""

    events: bool = True
    time_range: TimeRange | None = None
    props: list[PropFilter] = field(default_factory=list)

    def matches_props(self, master: Event) -> bool:
        return all(prop.matches(master) for prop in self.props)


def parse_time(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise BadDavRequest(f"{what} {value!r} is not a UTC date-time like 20260301T000000Z") from None
    return moment


def time_range(node: etree._Element) -> TimeRange:
    start = parse_time(node.get("start"), "time-range start")
    end = parse_time(node.get("end"), "time-range end")
    if start is None and end is None:
        raise BadDavRequest("a time-range needs a start or an end")
    start, end = start or FAR_PAST, end or FAR_FUTURE
    if end <= start:
        raise BadDavRequest("the time-range ends before it starts")
    return TimeRange(start, end)


def read_filter(node: etree._Element | None) -> Filter:
    if node is None:
        raise BadDavRequest("a calendar-query needs a CALDAV:filter")
    top = children(node)
    if (
        len(top) != 1
        or top[0].tag != tag(CALDAV, "comp-filter")
        or top[0].get("name", "").upper() != "VCALENDAR"
    ):
        raise BadDavRequest("the filter must hold one comp-filter for VCALENDAR")
    found = Filter()
    calendar = top[0]
    inner = children(calendar)
    if any(child.tag == tag(CALDAV, "is-not-defined") for child in inner):
        found.events = False
        return found
    components = [child for child in inner if child.tag == tag(CALDAV, "comp-filter")]
    if any(child.tag != tag(CALDAV, "comp-filter") for child in inner):
        raise DavPrecondition(403, CALDAV, "supported-filter", "only comp-filters may test VCALENDAR")
    if not components:
        return found
    if len(components) > 1:
        raise DavPrecondition(403, CALDAV, "supported-filter", "one component filter at a time")
    component = components[0]
    if component.get("name", "").upper() != "VEVENT":
        found.events = False
        return found
    for child in children(component):
        if child.tag == tag(CALDAV, "time-range"):
            found.time_range = time_range(child)
        elif child.tag == tag(CALDAV, "prop-filter"):
            found.props.append(_prop_filter(child))
        elif child.tag == tag(CALDAV, "is-not-defined"):
            found.events = False
        else:
            raise DavPrecondition(
                403, CALDAV, "supported-filter", f"{child.tag} inside VEVENT is not supported"
            )
    return found


def _prop_filter(node: etree._Element) -> PropFilter:
    name = node.get("name", "").upper()
    if not name:
        raise BadDavRequest("a prop-filter needs a name")
    prop = PropFilter(name)
    for child in children(node):
        if child.tag == tag(CALDAV, "is-not-defined"):
            prop.is_not_defined = True
        elif child.tag == tag(CALDAV, "text-match"):
            prop.text = child.text or ""
            prop.negate = child.get("negate-condition", "no") == "yes"
            prop.collation = child.get("collation", "i;ascii-casemap")
            if prop.collation not in ("i;ascii-casemap", "i;octet", "i;unicode-casemap"):
                raise DavPrecondition(
                    403, CALDAV, "supported-collation", f"unknown collation {prop.collation}"
                )
        else:
            raise DavPrecondition(
                403, CALDAV, "supported-filter", f"{child.tag} in a prop-filter is not supported"
            )
    return prop
