"""One HTTP POST to a URL the shop typed, with care against server-side request
forgery (docs/architecture.md, "Outbound webhooks"):

- http and https only, no credentials in the URL, redirects never followed (a 3xx
  is an answer like any other: the receiver must give its final URL);
- unless OMS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES, the host must resolve only to public
  addresses (not loopback, private, link-local, multicast or reserved), checked when
  sending, and the connection goes to the address that was checked, so a DNS answer
  that changes in between (DNS rebinding) cannot steer it elsewhere; https still
  verifies the certificate for the host name;
- a timeout per socket operation, and at most RESPONSE_READ bytes of the answer read.

The standard library's http.client does it: no dependency, and it neither follows
redirects nor reads proxies from the environment on its own.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from .errors import ValidationError

MAX_URL_LENGTH = 500
RESPONSE_READ = 4096  # bytes of the answer read
EXCERPT_CHARACTERS = 500  # of those, kept in the log


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str
    duration_ms: int


class Unreachable(Exception):
    """No answer: refused address, DNS failure, connection refused, timeout."""

    def __init__(self, message: str, duration_ms: int = 0):
        super().__init__(message)
        self.duration_ms = duration_ms


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> SplitResult:
    """The URL split, or ValidationError saying what is wrong with it."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("The URL is required.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if not url.isascii() or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValidationError("The URL may hold no spaces, control or non-ASCII characters "
                              "(write an international domain in its xn-- form).")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValidationError("The URL must start with https:// (or http://).")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("The URL may not hold a user name or password: the signature proves the sender.")
    if parts.fragment:
        raise ValidationError("The URL may not hold a #fragment.")
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number in range)
    except ValueError:
        raise ValidationError("The URL's port is not a number from 1 to 65535.") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationError("The URL has no host name.")
    if not allow_private:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if host == "localhost" or host.endswith(".localhost") or (literal is not None and not _public(host)):
            raise ValidationError("The URL points at a loopback or private address; webhooks go to "
                                  "public addresses only (OMS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES).")
    return parts


def _resolve(host: str, port: int, *, allow_private: bool) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unreachable(f"The host name {host} does not resolve ({exc}).") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise Unreachable(f"The host name {host} does not resolve.")
    if not allow_private and not all(_public(address) for address in addresses):
        raise Unreachable(f"{host} resolves to a loopback or private address: refused "
                          "(OMS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES).")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool) -> Answer:
    """POST `body`; the answer's status and the start of its body, or Unreachable."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        parts = check_url(url, allow_private=allow_private)
    except ValidationError as exc:
        raise Unreachable(str(exc)) from None
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = _resolve(parts.hostname, port, allow_private=allow_private)
    connection = (_PinnedHTTPS if https else _PinnedHTTP)(parts.hostname, port, address, timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(RESPONSE_READ)
        return Answer(status=response.status, duration_ms=elapsed(),
                      excerpt=data.decode("utf-8", "replace")[:EXCERPT_CHARACTERS])
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"{exc.__class__.__name__}: {exc}"[:500], elapsed()) from None
    finally:
        connection.close()
