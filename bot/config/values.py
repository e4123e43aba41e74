"""How each setting's text becomes a value: one parser per kind of setting, raising ValueError for
text it cannot use (``load_settings`` turns that into the setting's sentence with the fix)."""

from __future__ import annotations

import ipaddress
import re
import socket
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import urlsplit

import phonenumbers

SLACK_ID_RE = re.compile(r"^[A-Z][A-Z0-9]{2,}$")
SERVICE_LINK_VALUE = re.compile(r"^(tcp|udp|sctp)://", re.IGNORECASE)  # Kubernetes' service link in SMSBOT_PORT


def url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(value)
    return value


def base_url(value: str) -> str:
    return url(value).rstrip("/") + "/"


def port(value: str) -> int:
    if SERVICE_LINK_VALUE.match(value):
        raise ValueError(value)
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError(value)
    return number


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def non_negative_decimal(value: str) -> Decimal:
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError(value)
    return number


def positive_float(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(value)
    return number


def host(value: str) -> str:
    """An IP address, or a name this machine resolves (a typo such as ``localhostt`` does not)."""
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    try:
        socket.getaddrinfo(bare, None)
    except (socket.gaierror, UnicodeError):
        raise ValueError(value) from None
    return bare


def region(value: str) -> str:
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(value)
    return region


def country_list(value: str) -> frozenset[str]:
    codes = [item.strip().upper() for item in value.split(",") if item.strip()]
    bad = [code for code in codes if code not in phonenumbers.SUPPORTED_REGIONS]
    if bad:
        raise ValueError(bad)
    return frozenset(codes)


def id_list(value: str, prefixes: str = "") -> frozenset[str]:
    ids = [item.strip() for item in value.split(",") if item.strip()]
    bad = [item for item in ids if not SLACK_ID_RE.match(item) or (prefixes and item[0] not in prefixes)]
    if bad:
        raise ValueError(bad)
    return frozenset(ids)


def user_ids(value: str) -> frozenset[str]:
    return id_list(value, "UW")


def channel_ids(value: str) -> frozenset[str]:
    return id_list(value, "CGD")


def channel_id(value: str) -> str:
    if not (SLACK_ID_RE.match(value) and value[0] in "CG"):
        raise ValueError(value)
    return value


def choice(options: tuple[str, ...], *, upper: bool) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.upper() if upper else value.lower()
        if value not in options:
            raise ValueError(value)
        return value

    return parse


def zone_name(value: str) -> str:
    """``value`` if it names a time zone (SMSBOT_TIMEZONE), else ValueError."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(value) from None
    return value
