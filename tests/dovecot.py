"""A real Dovecot IMAP server for integration tests.

One Dovecot runs per test session on a free 127.0.0.1 port with its own configuration, sockets,
state and log under a temporary directory; each test gets a fresh passwd-file user, so its
mailbox starts empty and nothing leaks between tests. Users come from a passwd-file written in
batches of 400 (see _grow_pool), so a new test costs no restart: a session start is about
0.1 s, a user about 1 ms.

The server listens on `port` (plain, STARTTLS offered) and `tls_port` (implicit TLS) with a
self-signed certificate for 127.0.0.1/localhost that tests pass as `ca_file`.

Timing: IDLE notifications come from inotify on the Maildir plus Dovecot's notify delay, so
another client's APPEND reaches an idling client after roughly 0.5 s.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped]

MAIL_USER = "inboxbot-test"  # the unprivileged owner of test mail when the suite runs as root
_START_TIMEOUT = 10.0
_POOL_SIZE = 400
_STOP_GRACE = 0.5  # seconds for SIGTERM before SIGKILL

_CONFIG = """\
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
log_timestamp = "%H:%M:%S "
verbose_proctitle = no
info_log_path = {root}/dovecot.log
{internal_users}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
auth_failure_delay = 0
mail_max_userip_connections = 1000
imap_idle_notify_interval = 1 secs
login_trusted_networks = 127.0.0.0/8
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
# No brute-force penalty: a test of a wrong password must not slow the next tests' logins.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _children(pid: int) -> dict[int, str]:
    """Live child processes of `pid` with their names, from /proc (Dovecot runs on Linux here)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = name
    return found


def _self_signed(root: Path) -> None:
    """A certificate for 127.0.0.1/localhost that is its own CA: tests pass it as ca_file."""
    subprocess.run(
        [
            _binary("openssl"),
            "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=_START_TIMEOUT,
    )  # fmt: skip


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        pytest.fail(
            f"{name} is not installed: the integration tests need a real Dovecot. "
            "Run ./scripts/test, which installs dovecot-imapd, or apt-get install dovecot-imapd.",
            pytrace=False,
        )
    return path


def _mail_account() -> tuple[int, int]:
    """uid/gid for test mail: Dovecot refuses to serve mail as root."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    try:
        entry = pwd.getpwnam(MAIL_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", MAIL_USER],
            check=True,
        )
        entry = pwd.getpwnam(MAIL_USER)
    return entry.pw_uid, entry.pw_gid


class DovecotServer:
    """The session's Dovecot process: config, port and data survive stop()/start()."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = _free_port()  # IMAP with STARTTLS available
        self.tls_port = _free_port()  # implicit TLS (IMAPS)
        self.ca_file = root / "cert.pem"  # self-signed for 127.0.0.1 and localhost
        self.config = root / "dovecot.conf"
        self.log_path = root / "dovecot.log"
        self.passwd = root / "passwd"
        self.homes = root / "home"
        self.uid, self.gid = _mail_account()
        self._dovecot = _binary("dovecot")
        self._doveadm = _binary("doveadm")
        self._users = itertools.count(1)
        self._pool: list[tuple[str, str]] = []
        self._write_config()
        self._grow_pool()

    def _write_config(self) -> None:
        for sub in ("run", "state"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.homes.mkdir(exist_ok=True)
        os.chown(self.homes, self.uid, self.gid)
        self.passwd.touch()
        _self_signed(self.root)
        internal = ""
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.getuid()).pw_name
            internal = f"default_internal_user = {me}\ndefault_login_user = {me}"
        self.config.write_text(
            _CONFIG.format(
                instance=f"inboxbot-test-{self.port}",
                root=self.root,
                port=self.port,
                tls_port=self.tls_port,
                internal_users=internal,
            )
        )

    def _accepting(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def start(self) -> None:
        if self._master_pid() is None:
            # A killed master leaves its pid file; if nobody reaps the dead master (no init in a
            # container), Dovecot's own check still sees that pid "alive" and refuses to start.
            (self.root / "run" / "master.pid").unlink(missing_ok=True)
        # Dovecot daemonises but keeps inherited pipes open: capturing its output would hang.
        result = subprocess.run(
            [self._dovecot, "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_START_TIMEOUT,
            check=False,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while result.returncode == 0 and time.monotonic() < deadline:
            if self._accepting():
                return
            time.sleep(0.02)
        raise RuntimeError(
            f"Dovecot did not start (exit {result.returncode}); see {self.log_path}:\n"
            + self.log_tail()
        )

    def _master_pid(self) -> int | None:
        try:
            pid = int((self.root / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def stop(self) -> None:
        """Stop the master and every process it started, client sessions included.

        The master alone leaves running imap sessions (and its log process, for ~2.5 s) behind;
        a restart must drop connections the way a real server restart does.
        """
        pid = self._master_pid()
        if pid is None:
            return
        processes = [pid, *_children(pid)]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        while any(_alive(p) for p in processes) and time.monotonic() < deadline:
            time.sleep(0.01)
        for process in processes:
            if _alive(process):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process, signal.SIGKILL)
        while self._accepting() or any(_alive(p) for p in processes):
            time.sleep(0.01)

    def ensure_running(self) -> None:
        if not self._accepting():
            self.stop()
            self.start()

    def doveadm(self, *args: str) -> str:
        result = subprocess.run(
            [self._doveadm, "-c", str(self.config), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def add_user(self) -> tuple[str, str, Path]:
        """Hand out the next pre-made user: new users only become visible a second later."""
        if not self._pool:
            self._grow_pool()
        name, password = self._pool.pop(0)
        home = self.homes / name
        home.mkdir()
        os.chown(home, self.uid, self.gid)
        return name, password, home

    def _grow_pool(self) -> None:
        # Dovecot's passwd-file is re-read when it changes, but at most once a second; users
        # written in the same second as a login stay unknown until then. So write many at once.
        fresh = [next(self._users) for _ in range(_POOL_SIZE)]
        lines = []
        for number in fresh:
            name, password = f"user{number}", f"pw-{number}-{os.urandom(4).hex()}"
            self._pool.append((name, password))
            lines.append(
                f"{name}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{self.homes / name}::\n"
            )
        with self.passwd.open("a") as handle:
            handle.writelines(lines)
        if fresh[0] > 1:
            time.sleep(1.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Dovecot:
    """One test's view: a fresh user on the shared server, plus fault-injection helpers."""

    def __init__(self, server: DovecotServer) -> None:
        self.server = server
        self.username, self.password, self.home = server.add_user()
        self._clients: list[IMAPClient] = []

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def tls_port(self) -> int:
        return self.server.tls_port

    @property
    def ca_file(self) -> str:
        return str(self.server.ca_file)

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"

    def client(self) -> IMAPClient:
        """A logged-in IMAPClient, logged out at the end of the test."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(self.username, self.password)
        self._clients.append(client)
        return client

    def append(self, folder: str, raw: bytes, flags: Sequence[str] = ()) -> int:
        """APPEND from another connection; returns the new message's UID (UIDPLUS)."""
        with self._session() as client:
            response = client.append(folder, raw, flags=flags)
        return _appenduid(response)

    def append_many(self, folder: str, messages: Iterable[bytes]) -> list[int]:
        """One MULTIAPPEND for many messages: the quick way to seed a large folder."""
        batch = list(messages)
        with self._session() as client:
            response = client.multiappend(folder, batch)
        text = response.decode() if isinstance(response, bytes) else str(response)
        uid_set = text.split("]")[0].split()[-1]
        return _expand_uid_set(uid_set)

    def deliver_many(self, folder: str, messages: Iterable[bytes]) -> list[int]:
        """Write messages straight into the Maildir, as a local delivery agent would.

        Ten times quicker than MULTIAPPEND for seeding big folders; Dovecot assigns UIDs in
        file-name order on the next sync, so they follow the order given. Returns the UIDs.
        """
        with self._session() as client:
            before = client.select_folder(folder)[b"UIDNEXT"]  # also creates the Maildir
            target = (
                self.maildir
                if folder.upper() == "INBOX"
                else self.maildir / ("." + folder.replace("/", "."))
            )
            stamp = int(time.time())
            for number, raw in enumerate(messages):
                name = f"{stamp}.M{number:07d}P{os.getpid()}.inboxbot-test"
                temporary = target / "tmp" / name
                temporary.write_bytes(raw)
                os.chown(temporary, self.server.uid, self.server.gid)
                temporary.rename(target / "new" / name)
            client.noop()
            found = client.search(["UID", f"{before}:*"])
        return sorted(uid for uid in found if uid >= before)

    def create_folder(self, folder: str) -> None:
        with self._session() as client:
            client.create_folder(folder)

    def change_uidvalidity(self, folder: str = "INBOX") -> int:
        """Give `folder` a new UIDVALIDITY, as a server restore or rebuild would; returns it."""
        status = self.server.doveadm(
            "-f", "flow", "mailbox", "status", "-u", self.username, "uidvalidity", folder
        )
        new = int(status.strip().split("=")[1]) + 1000
        self.server.doveadm(
            "mailbox", "update", "-u", self.username, "--uid-validity", str(new), folder
        )
        return new

    def kick(self) -> None:
        """Drop every IMAP connection of this user, as a network failure or server admin would."""
        self.server.doveadm("kick", self.username)

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()

    def restart(self) -> None:
        """Stop and start the server: same port, same mail."""
        self.server.stop()
        self.server.start()

    @contextlib.contextmanager
    def _session(self) -> Iterator[IMAPClient]:
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            client.login(self.username, self.password)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def close(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.logout()
        self._clients.clear()


def _appenduid(response: bytes | str) -> int:
    # "[APPENDUID <uidvalidity> <uid>] Append completed."
    text = response.decode() if isinstance(response, bytes) else response
    return int(text.split("]")[0].split()[-1])


def _expand_uid_set(uid_set: str) -> list[int]:
    uids: list[int] = []
    for item in uid_set.split(","):
        low, _, high = item.partition(":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    root = Path(tempfile.mkdtemp(prefix="inboxbot-dovecot-"))
    # Dovecot's unprivileged processes must traverse the directory; pytest's tmp is 0700.
    root.chmod(0o755)
    server = DovecotServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> Iterator[Dovecot]:
    """A fresh, empty mailbox on the session's real Dovecot server."""
    dovecot_server.ensure_running()
    instance = Dovecot(dovecot_server)
    try:
        yield instance
    finally:
        instance.close()
        # A fault test may have stopped the server; the next test needs it back.
        dovecot_server.ensure_running()
