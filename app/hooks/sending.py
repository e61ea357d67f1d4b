"""One POST to an endpoint: the address vetted, the body signed, the answer read briefly.

Against server-side request forgery, the host is resolved at each send, not
only at registration (DNS can change in between: rebinding), every address
it resolves to is checked, and the connection goes to the address that was
checked, so there is no second resolution for an attacker to answer
differently. TLS still checks the certificate against the host's name.
Unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES, only https, and only public
addresses. Redirects are not followed (http.client never does): a 3xx is a
failure, recorded as such. Each wait (connect, the answer's head, each read)
is at most WEBHOOK_TIMEOUT_SECONDS and the whole POST at most twice that; at
most WEBHOOK_RESPONSE_MAX_BYTES of the answer's body is read.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

USER_AGENT = "CampaignDispatcher-Webhooks/1"


class Refused(Exception):
    """The URL may not be sent to; the message says why, for the form and the log."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    # The path with its query, as the request line carries it.
    path: str
    # Every address the host resolved to, each checked.
    addresses: list[str]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    response: str
    milliseconds: int


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public one, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _internal(address.ipv4_mapped)
    for kind, flagged in (
        # The narrower kinds first: each of these is also "private" to ipaddress.
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flagged:
            return kind
    return None if address.is_global else "non-public"


def vet(url: str, allow_private: bool) -> Target:
    """The URL's host resolved and each of its addresses checked; raises Refused."""
    parts = urlsplit(url.strip())
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise Refused(f"Use an {' or '.join(allowed)} URL.")
    host = parts.hostname
    if not host:
        raise Refused("The URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("The URL's port is not a number from 1 to 65535.") from None
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"{host} could not be resolved ({error}).") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in found))
    if not allow_private:
        for address in addresses:
            if kind := _internal(ipaddress.ip_address(address)):
                raise Refused(
                    f"{host} resolves to {address}, a {kind} address: only public addresses are sent to "
                    "(WEBHOOK_ALLOW_PRIVATE_ADDRESSES is off)."
                )
    path = parts.path or "/"
    return Target(parts.scheme, host, port, f"{path}?{parts.query}" if parts.query else path, addresses)


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the vetted address, not to whatever the name resolves to now."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """As ``_PinnedHTTP``, with TLS checked against the host's name."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def body_of(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def headers_for(secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers, signed with the reference code."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


def post(url: str, secret: str, message_id: str, body: bytes, at: datetime, config: Mapping[str, Any]) -> Outcome:
    """POST ``body`` to ``url``, signed; never raises for what the endpoint or the network does."""
    started = time.monotonic()

    def outcome(ok: bool, status: int | None, error: str | None, response: str = "") -> Outcome:
        return Outcome(ok, status, error, response, int((time.monotonic() - started) * 1000))

    try:
        target = vet(url, config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"])
    except Refused as refused:
        return outcome(False, None, f"Refused: {refused}")
    timeout = config["WEBHOOK_TIMEOUT_SECONDS"]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers_for(secret, message_id, body, at),
    }
    pinned = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = pinned(target, target.addresses[0], timeout)
    # However slowly an endpoint answers, a byte at a time, the POST ends by then.
    deadline = threading.Timer(2 * timeout, _cut, (connection,))
    deadline.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        answer = connection.getresponse()
        read = answer.read(config["WEBHOOK_RESPONSE_MAX_BYTES"]).decode("utf-8", errors="replace")
    except TimeoutError:
        return outcome(False, None, f"No answer within {timeout:g} s.")
    except (OSError, http.client.HTTPException) as error:
        if time.monotonic() - started >= 2 * timeout:
            return outcome(False, None, f"Not finished within {2 * timeout:g} s.")
        return outcome(False, None, f"{type(error).__name__}: {error}".rstrip(": "))
    finally:
        deadline.cancel()
        connection.close()
    status = answer.status
    if 200 <= status < 300:
        return outcome(True, status, None, read)
    if 300 <= status < 400:
        where = answer.getheader("Location") or "nowhere"
        return outcome(False, status, f"HTTP {status}: a redirect (to {where[:200]}), not followed.", read)
    return outcome(False, status, f"HTTP {status} {answer.reason}".strip(), read)


def _cut(connection: http.client.HTTPConnection) -> None:
    """Wakes a read blocked on the connection's socket (from the deadline's thread)."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed: the POST ended meanwhile
            return
