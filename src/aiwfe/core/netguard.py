"""Server-side request forgery guard shared by every call to a URL a user typed (sync sources, webhooks):
is a host name or a resolved address on the public internet?"""

from __future__ import annotations

import ipaddress


def is_local_name(host: str) -> bool:
    """``localhost`` and its subdomains, which resolvers may answer without DNS."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, reserved and multicast addresses (IPv4-mapped IPv6
    included); a scope suffix (``fe80::1%eth0``) is ignored."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
