"""WebDAV XML: parse request bodies safely (lxml, no entities, no DTD, no network) and build multistatus
answers with lxml's tree API (never by string concatenation)."""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from aiwfe.caldav.errors import BadDavRequest

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"
NSMAP = {"D": DAV, "C": CALDAV, "CS": CS, "I": ICAL}
XML_TYPE = "application/xml; charset=utf-8"
MAX_DEPTH = 32

STATUS_TEXT = {
    200: "OK",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    424: "Failed Dependency",
}

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def parse(body: bytes) -> etree._Element:
    """The document element of a request body; :class:`BadDavRequest` for anything else."""
    if not body.strip():
        raise BadDavRequest("the request needs an XML body")
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise BadDavRequest(f"the body is not well-formed XML: {exc.msg}") from None
    info = root.getroottree().docinfo
    # (lxml-stubs lacks DocInfo.doctype)
    if info.internalDTD is not None or getattr(info, "doctype", False):
        raise BadDavRequest("document type declarations are not accepted")
    if _depth(root) > MAX_DEPTH:
        raise BadDavRequest(f"the XML is nested deeper than {MAX_DEPTH} levels")
    return root


def _depth(root: etree._Element) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node)
    return deepest


def children(element: etree._Element) -> list[etree._Element]:
    """Element children only (lxml also yields comments and entities)."""
    return [child for child in element if isinstance(child.tag, str)]


def status_line(code: int) -> str:
    return f"HTTP/1.1 {code} {STATUS_TEXT.get(code, '')}".rstrip()


def multistatus() -> etree._Element:
    return etree.Element(tag(DAV, "multistatus"), nsmap=NSMAP)


def response(
    parent: etree._Element,
    href: str,
    found: Iterable[etree._Element] = (),
    missing: Iterable[str] = (),
    *,
    status: int | None = None,
    extra_status: dict[int, list[str]] | None = None,
) -> etree._Element:
    """One ``D:response``: a bare status (``status``), or propstats of found and missing properties."""
    node = etree.SubElement(parent, tag(DAV, "response"))
    etree.SubElement(node, tag(DAV, "href")).text = href
    if status is not None:
        etree.SubElement(node, tag(DAV, "status")).text = status_line(status)
        return node
    groups: list[tuple[int, list[etree._Element]]] = []
    found = list(found)
    if found:
        groups.append((200, found))
    missing_names = list(missing)
    if missing_names:
        groups.append((404, [etree.Element(name) for name in missing_names]))
    for code, names in (extra_status or {}).items():
        groups.append((code, [etree.Element(name) for name in names]))
    for code, props in groups:
        propstat = etree.SubElement(node, tag(DAV, "propstat"))
        prop = etree.SubElement(propstat, tag(DAV, "prop"))
        prop.extend(props)
        etree.SubElement(propstat, tag(DAV, "status")).text = status_line(code)
    return node


def element(name: str, text: str | None = None, *kids: etree._Element) -> etree._Element:
    node = etree.Element(name)
    if text is not None:
        node.text = text
    node.extend(kids)
    return node


def href(value: str) -> etree._Element:
    return element(tag(DAV, "href"), value)


def error(namespace: str, name: str, href_value: str | None = None) -> bytes:
    root = etree.Element(tag(DAV, "error"), nsmap=NSMAP)
    condition = etree.SubElement(root, tag(namespace, name))
    if href_value is not None:
        etree.SubElement(condition, tag(DAV, "href")).text = href_value
    return serialize(root)


def serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
