"""A real SMTP server for tests: aiosmtpd on a free loopback port, collecting what it receives.

Fixtures (registered through tests/conftest.py):
- ``smtp_sink``       plain SMTP, no AUTH.
- ``smtp_sink_auth``  requires AUTH PLAIN/LOGIN as ``SINK_USER``/``SINK_PASSWORD`` (over loopback).
- ``smtp_sink_starttls`` offers STARTTLS with a certificate from a test-time CA (``tls_files``).
- ``smtp_sink_tls``   implicit TLS (port 465 style) with the same certificate.
- ``tls_files``       the CA file and server certificate/key, generated once per session.

Nothing here is a mock: clients talk to the server over a real socket, so the tests see what a
real relay would do (greeting, EHLO extensions, 4xx/5xx replies, dropped connections).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SINK_USER = "bot@shop.test"
SINK_PASSWORD = "s3cret-sink-password"
SINK_HOST = "127.0.0.1"


def pytest_configure(config: pytest.Config) -> None:
    # AUTH without TLS is deliberate in the AUTH fixture (loopback only); aiosmtpd warns on every
    # connection, which would only bury real warnings in the test summary.
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the server got it: the envelope and the raw DATA bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_file: Path  # the CA a client must trust
    cert_file: Path  # server certificate (SAN: 127.0.0.1, localhost), signed by the CA
    key_file: Path


class _Refusal:
    """The 4xx/5xx reply the server currently gives to MAIL and DATA, if any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reply: str | None = None
        self._until: float | None = None

    def set(self, code: int, message: str, for_seconds: float | None) -> None:
        with self._lock:
            self._reply = f"{code} {message}"
            self._until = None if for_seconds is None else time.monotonic() + for_seconds

    def clear(self) -> None:
        with self._lock:
            self._reply = None
            self._until = None

    def current(self) -> str | None:
        with self._lock:
            if self._until is not None and time.monotonic() >= self._until:
                self._reply = None
                self._until = None
            return self._reply


class _Handler:
    """aiosmtpd handler: stores accepted messages, answers with the refusal while one is set."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        if not getattr(session, "_sink_counted", False):  # STARTTLS repeats EHLO in one session
            session._sink_counted = True  # type: ignore[attr-defined]
            self._sink.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self._sink.attempts += 1
        refusal = self._sink._refusal.current()
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self._sink._refusal.current()
        if refusal is not None:
            return refusal
        content = envelope.original_content or b""
        self._sink._store(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SINK_USER.encode()
        and auth_data.password == SINK_PASSWORD.encode()
    )
    # handled=False: aiosmtpd then answers 535 itself (handled=True would leave the client hanging)
    return AuthResult(success=ok, handled=False)


class SmtpSink:
    """A running aiosmtpd server on 127.0.0.1:``port``; ``stop()``/``start()`` keep the port."""

    def __init__(
        self,
        *,
        require_auth: bool = False,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = SINK_HOST
        self.port = _free_port()
        self.attempts = 0  # MAIL commands seen, accepted or refused: proves "no retry"
        self.connections = 0  # SMTP sessions that said EHLO: proves connection reuse
        self._require_auth = require_auth
        self._starttls = starttls
        self._implicit_tls = implicit_tls
        self._refusal = _Refusal()
        self._received: list[Received] = []
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    # -- server life -------------------------------------------------------------------------

    def start(self) -> None:
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {}
        if self._require_auth:
            # Loopback only, so AUTH without TLS is acceptable here (and it is what we test).
            kwargs.update(authenticator=_authenticator, auth_required=True, auth_require_tls=False)
        if self._starttls is not None:
            kwargs.update(tls_context=self._starttls, require_starttls=True)
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=self._implicit_tls,
            ready_timeout=10,
            **kwargs,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Shut the server down (open client connections drop); the port stays reserved for us."""
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    # -- behaviour ---------------------------------------------------------------------------

    def refuse(self, code: int, message: str, for_seconds: float | None = None) -> None:
        """Answer MAIL and DATA with ``code message`` until ``accept()`` or ``for_seconds`` pass."""
        if not 400 <= code <= 599:
            raise ValueError("refuse() takes a 4xx or 5xx code")
        self._refusal.set(code, message, for_seconds)

    def accept(self) -> None:
        self._refusal.clear()

    # -- what arrived ------------------------------------------------------------------------

    def _store(self, item: Received) -> None:
        with self._cond:
            self._received.append(item)
            self._cond.notify_all()

    @property
    def messages(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``n`` messages arrived; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"smtp sink: expected {n} message(s), got {len(self._received)}"
                    )
                self._cond.wait(left)
            return list(self._received)

    def clear(self) -> None:
        with self._cond:
            self._received.clear()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((SINK_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost, via the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=inboxbot test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=directory)  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    return TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def _server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(files.cert_file), str(files.key_file))
    return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _running(sink: SmtpSink) -> Iterator[SmtpSink]:
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    yield from _running(SmtpSink())


@pytest.fixture
def smtp_sink_auth() -> Iterator[SmtpSink]:
    yield from _running(SmtpSink(require_auth=True))


@pytest.fixture
def smtp_sink_starttls(tls_files: TlsFiles) -> Iterator[SmtpSink]:
    yield from _running(SmtpSink(starttls=_server_context(tls_files)))


@pytest.fixture
def smtp_sink_tls(tls_files: TlsFiles) -> Iterator[SmtpSink]:
    yield from _running(SmtpSink(implicit_tls=_server_context(tls_files)))
