"""SMTP delivery (ports.Sender) on aiosmtplib: TLS verified, retries with backoff, one connection.

Temporary failures (4xx replies, refused/reset/timed-out connections) are retried with exponential
backoff; permanent ones (5xx, certificate or configuration problems) are not. Every aiosmtplib and
ssl error is translated here, once, into ``SendError(permanent=...)``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Literal

import aiosmtplib

from inboxbot.errors import SendError

log = logging.getLogger("inboxbot.smtp")

Security = Literal["tls", "starttls", "plain"]
SECURITY_MODES: tuple[Security, ...] = ("tls", "starttls", "plain")

# A connection reused after this much idle time is probed with NOOP first: servers drop idle
# clients (Postfix after 300 s), and finding out in the middle of MAIL would cost a retry.
_PROBE_AFTER_IDLE = 2.0


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback IP literals; no DNS lookup, which could be spoofed."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class _Failure(Exception):
    """One failed attempt, already classified; never leaves this module."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class SmtpSender:
    """Delivers messages through one SMTP server; use from one thread (calls are serialised)."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        username: str | None,
        password: str | None,
        *,
        timeout: float = 30,
        ca_file: str | None = None,
        retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        sleep: Callable[[float], object] = time.sleep,
        local_hostname: str | None = None,
    ) -> None:
        _check_security(host, security)
        self.host = host
        self.port = port
        self.security: Security = security
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._lock = threading.Lock()
        # One loop for the sender's life: aiosmtplib connections are bound to the loop that
        # opened them, so a loop per message would also mean a connection per message.
        self._loop = asyncio.new_event_loop()
        self._last_used = 0.0
        self._closed = False
        self._smtp = aiosmtplib.SMTP(
            hostname=host,
            port=port,
            username=username or None,  # AUTH only when a username is configured
            password=password if username else None,
            timeout=timeout,
            use_tls=security == "tls",
            start_tls=security == "starttls",  # True: refuse to go on if STARTTLS is missing
            tls_context=None if security == "plain" else _tls_context(ca_file),
            local_hostname=local_hostname,
        )

    # -- public API --------------------------------------------------------------------------

    def send(self, message: EmailMessage, *, envelope_from: str, recipients: Sequence[str]) -> None:
        """Deliver ``message``; ``envelope_from=""`` sends MAIL FROM:<> (RFC 3834 auto-replies).

        Raises SendError(permanent=True) on a 5xx or configuration error, and
        SendError(permanent=False) when temporary failures outlast the retries.
        """
        if not recipients:
            raise SendError("SMTP send: no recipients given", permanent=True)
        with self._lock:
            if self._closed:
                raise SendError("SMTP sender is closed", permanent=False)
            self._send_with_retries(message, envelope_from, list(recipients))

    def check(self) -> None:
        """Connect, say EHLO, upgrade and log in, as `inboxbot check` reports; SendError if not."""
        with self._lock:
            if self._closed:
                raise SendError("SMTP sender is closed", permanent=False)
            try:
                self._loop.run_until_complete(self._ensure_connected())
            except Exception as exc:
                self._smtp.close()
                failure = _classify(exc)
                raise SendError(
                    f"SMTP {self.host}:{self.port}: {failure.reason}", permanent=failure.permanent
                ) from None

    def close(self) -> None:
        """Say QUIT when connected, then release the loop; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._loop.run_until_complete(self._quit())
            finally:
                self._loop.close()

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- retry policy ------------------------------------------------------------------------

    def _delay(self, attempt: int) -> float:
        delay: float = min(self.max_backoff, self.backoff * (2**attempt))
        return delay

    def _send_with_retries(
        self, message: EmailMessage, envelope_from: str, recipients: list[str]
    ) -> None:
        where = f"{self.host}:{self.port}"
        to = ", ".join(recipients)
        for attempt in range(self.retries + 1):
            try:
                self._loop.run_until_complete(self._attempt(message, envelope_from, recipients))
                return
            except _Failure as failure:
                if failure.permanent:
                    log.error("SMTP %s refused mail to %s permanently: %s", where, to, failure)
                    raise SendError(
                        f"SMTP server {where} refused the message to {to}: {failure.reason}",
                        permanent=True,
                    ) from None
                if attempt == self.retries:
                    log.error("SMTP %s: giving up on mail to %s: %s", where, to, failure)
                    raise SendError(
                        f"SMTP server {where} failed temporarily {attempt + 1} time(s), "
                        f"last: {failure.reason}; the message to {to} stays queued",
                        permanent=False,
                    ) from None
                delay = self._delay(attempt)
                log.warning(
                    "SMTP %s: temporary failure sending to %s (%s); retry %d/%d in %.1fs",
                    where, to, failure, attempt + 1, self.retries, delay,
                )  # fmt: skip
                self._sleep(delay)

    # -- one attempt (async, on the sender's loop) -------------------------------------------

    async def _attempt(
        self, message: EmailMessage, envelope_from: str, recipients: list[str]
    ) -> None:
        try:
            await self._ensure_connected()
            errors, _ = await self._smtp.send_message(
                message, sender=envelope_from, recipients=recipients
            )
        except Exception as exc:
            # A connection in an unknown state is not reused: the next attempt starts clean.
            self._smtp.close()
            raise _classify(exc) from exc
        self._last_used = time.monotonic()
        if errors:
            # Some recipients took it: a retry would duplicate it for them, so report and go on.
            refused = "; ".join(f"{rcpt}: {r.code} {r.message}" for rcpt, r in errors.items())
            log.warning("SMTP %s:%s refused some recipients: %s", self.host, self.port, refused)

    async def _ensure_connected(self) -> None:
        if self._smtp.is_connected and time.monotonic() - self._last_used > _PROBE_AFTER_IDLE:
            try:
                await self._smtp.noop()
            except (aiosmtplib.SMTPException, OSError):
                self._smtp.close()
        if not self._smtp.is_connected:
            await self._smtp.connect()

    async def _quit(self) -> None:
        if not self._smtp.is_connected:
            return
        try:
            await self._smtp.quit(timeout=5)
        except (aiosmtplib.SMTPException, OSError):
            pass  # closing anyway; a server that cannot say goodbye changes nothing
        finally:
            self._smtp.close()


def _check_security(host: str, security: str) -> None:
    if security not in SECURITY_MODES:
        raise SendError(
            f"[smtp] security = {security!r} is not one of tls, starttls, plain", permanent=True
        )
    if security == "plain" and not is_loopback(host):
        raise SendError(
            f'[smtp] security = "plain" is only allowed to a loopback host, not {host!r}: '
            'set security = "starttls" (port 587) or "tls" (port 465)',
            permanent=True,
        )


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificate and host name verification always on; ``ca_file`` adds a private CA."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SendError(
            f"SMTP CA file {ca_file!r} cannot be loaded: {exc}", permanent=True
        ) from exc


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _classify(exc: Exception) -> _Failure:
    """Map one aiosmtplib/ssl/socket error to temporary or permanent, with a readable reason."""
    cert = _cert_error(exc)
    if cert is not None:
        return _Failure(
            f"TLS certificate not trusted ({cert.verify_message}); if the server uses a private "
            "CA, point ca_file at it",
            permanent=True,
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return _Failure(f"all recipients refused: {reason}", permanent=all(c >= 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _Failure(
            f"login refused ({exc.code} {exc.message}); check [smtp] username and password",
            permanent=exc.code >= 500,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _Failure(f"{exc.code} {exc.message}", permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | asyncio.TimeoutError | TimeoutError):
        return _Failure(f"timed out ({exc})", permanent=False)
    if isinstance(exc, ConnectionError | OSError):
        return _Failure(f"connection failed ({exc})", permanent=False)
    if isinstance(exc, aiosmtplib.SMTPException):
        # Protocol-level refusals such as "STARTTLS not supported" or "AUTH not supported":
        # the server will say the same next time, so retrying only delays the error.
        return _Failure(f"{exc.message}; check [smtp] security and port", permanent=True)
    if isinstance(exc, ValueError):
        return _Failure(f"invalid address or message ({exc})", permanent=True)
    return _Failure(f"unexpected error {type(exc).__name__}: {exc}", permanent=False)
