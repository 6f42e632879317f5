"""WebDAV properties of each kind of resource, as lxml elements built on demand by name."""

from __future__ import annotations

from collections.abc import Callable

from icalendar import Calendar as ICalendar
from lxml import etree

from aiwfe.auth.models import User
from aiwfe.caldav import paths
from aiwfe.caldav.service import Resource, ctag, sync_token
from aiwfe.caldav.xml import CALDAV, CS, DAV, ICAL, element, href, tag
from aiwfe.calendar.models import Calendar
from aiwfe.calendar.sync.service import is_read_only
from aiwfe.calendar.vtimezone import vtimezone

Props = dict[str, Callable[[], etree._Element]]
CALENDAR_TYPE = "text/calendar; charset=utf-8; component=vevent"
REPORTS = (
    (CALDAV, "calendar-query"),
    (CALDAV, "calendar-multiget"),
    (CALDAV, "free-busy-query"),
    (DAV, "sync-collection"),
)
# allprop leaves out what is expensive or computed from the content (RFC 4918 9.1).
EXPENSIVE = {tag(CALDAV, "calendar-data"), tag(CALDAV, "calendar-timezone"), tag(DAV, "getcontentlength")}


def _privileges(*names: str) -> etree._Element:
    node = etree.Element(tag(DAV, "current-user-privilege-set"))
    for name in names:
        privilege = etree.SubElement(node, tag(DAV, "privilege"))
        etree.SubElement(privilege, tag(DAV, name))
    return node


def _href_prop(name: str, value: str) -> Callable[[], etree._Element]:
    return lambda: element(name, None, href(value))


def _text(name: str, value: str) -> Callable[[], etree._Element]:
    return lambda: element(name, value)


def common(user: User) -> Props:
    return {
        tag(DAV, "current-user-principal"): _href_prop(
            tag(DAV, "current-user-principal"), paths.principal_href(user.id)
        ),
    }


def root(user: User) -> Props:
    return {
        **common(user),
        tag(DAV, "resourcetype"): lambda: element(
            tag(DAV, "resourcetype"), None, element(tag(DAV, "collection"))
        ),
    }


def principal(user: User) -> Props:
    return {
        **common(user),
        tag(DAV, "resourcetype"): lambda: element(
            tag(DAV, "resourcetype"), None, element(tag(DAV, "collection")), element(tag(DAV, "principal"))
        ),
        tag(DAV, "displayname"): _text(tag(DAV, "displayname"), user.display_name or user.email),
        tag(DAV, "principal-URL"): _href_prop(tag(DAV, "principal-URL"), paths.principal_href(user.id)),
        tag(CALDAV, "calendar-home-set"): _href_prop(
            tag(CALDAV, "calendar-home-set"), paths.home_href(user.id)
        ),
        tag(CALDAV, "calendar-user-address-set"): _href_prop(
            tag(CALDAV, "calendar-user-address-set"), f"mailto:{user.email}"
        ),
    }


def home(user: User) -> Props:
    return {
        **common(user),
        tag(DAV, "resourcetype"): lambda: element(
            tag(DAV, "resourcetype"), None, element(tag(DAV, "collection"))
        ),
        tag(DAV, "displayname"): _text(tag(DAV, "displayname"), "Calendars"),
        tag(DAV, "owner"): _href_prop(tag(DAV, "owner"), paths.principal_href(user.id)),
        tag(DAV, "current-user-privilege-set"): lambda: _privileges("read", "bind", "unbind"),
    }


def _supported_reports() -> etree._Element:
    node = etree.Element(tag(DAV, "supported-report-set"))
    for namespace, name in REPORTS:
        supported = etree.SubElement(node, tag(DAV, "supported-report"))
        report = etree.SubElement(supported, tag(DAV, "report"))
        etree.SubElement(report, tag(namespace, name))
    return node


def _components() -> etree._Element:
    node = etree.Element(tag(CALDAV, "supported-calendar-component-set"))
    etree.SubElement(node, tag(CALDAV, "comp"), name="VEVENT")
    return node


def collection(user: User, calendar: Calendar, max_size: int) -> Props:
    writable = not is_read_only(calendar)
    privileges = (
        ("read", "write", "write-properties", "write-content", "bind", "unbind")
        if writable
        else ("read", "write-properties")
    )
    return {
        **common(user),
        tag(DAV, "resourcetype"): lambda: element(
            tag(DAV, "resourcetype"), None, element(tag(DAV, "collection")), element(tag(CALDAV, "calendar"))
        ),
        tag(DAV, "displayname"): _text(tag(DAV, "displayname"), calendar.name),
        tag(ICAL, "calendar-color"): _text(tag(ICAL, "calendar-color"), calendar.color.upper()),
        tag(CS, "getctag"): _text(tag(CS, "getctag"), ctag(calendar)),
        tag(DAV, "sync-token"): _text(tag(DAV, "sync-token"), sync_token(calendar)),
        tag(DAV, "owner"): _href_prop(tag(DAV, "owner"), paths.principal_href(user.id)),
        tag(DAV, "current-user-privilege-set"): lambda: _privileges(*privileges),
        tag(DAV, "supported-report-set"): _supported_reports,
        tag(CALDAV, "supported-calendar-component-set"): _components,
        tag(CALDAV, "max-resource-size"): _text(tag(CALDAV, "max-resource-size"), str(max_size)),
        tag(CALDAV, "calendar-timezone"): lambda: element(
            tag(CALDAV, "calendar-timezone"), _timezone_text(calendar.time_zone)
        ),
    }


def _timezone_text(time_zone: str) -> str:
    wrapper = ICalendar()
    wrapper.add("PRODID", "-//aiwfe//caldav//EN")
    wrapper.add("VERSION", "2.0")
    wrapper.add_component(vtimezone(time_zone, 1970))
    return bytes(wrapper.to_ical()).decode()


def calendar_object(resource: Resource, data: Callable[[], bytes]) -> Props:
    return {
        tag(DAV, "resourcetype"): lambda: element(tag(DAV, "resourcetype")),
        tag(DAV, "getetag"): _text(tag(DAV, "getetag"), resource.etag),
        tag(DAV, "getcontenttype"): _text(tag(DAV, "getcontenttype"), CALENDAR_TYPE),
        tag(DAV, "getcontentlength"): lambda: element(tag(DAV, "getcontentlength"), str(len(data()))),
        tag(CALDAV, "calendar-data"): lambda: element(tag(CALDAV, "calendar-data"), data().decode()),
    }


def pick(props: Props, wanted: list[str] | None) -> tuple[list[etree._Element], list[str]]:
    """The found elements and missing names; ``wanted`` None = allprop."""
    if wanted is None:
        return [build() for name, build in props.items() if name not in EXPENSIVE], []
    found = [props[name]() for name in wanted if name in props]
    missing = [name for name in wanted if name not in props]
    return found, missing
