"""A private Dovecot instance for tests: the real IMAP server most aliases are delivered to.

Everything it writes (config, sockets, state, log, maildirs) lives in one temporary folder and it
listens on 127.0.0.1 only, so it never touches a system Dovecot and several can run side by side.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from imapclient import IMAPClient

from aliasdesk.transport.lifetime import Lifetime
from tests.support.services import free_port, port_open

_CONFIG = """\
# Private test instance; see tests/support/dovecot.py.
protocols = imap
listen = 127.0.0.1
instance_name = aliasdesk-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{root}/mail/%u
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


class DovecotError(RuntimeError):
    """The private Dovecot did not start or stop as expected; the message holds its log."""


def _greets(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether an IMAP server answers on host:port with its "* OK" greeting."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            return connection.recv(64).startswith(b"* OK")
    except OSError:
        return False


def find_dovecot() -> str | None:
    """The dovecot binary, which Debian installs outside a normal user's PATH."""
    found = shutil.which("dovecot")
    if found:
        return found
    return "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None


def _mail_account() -> tuple[str, int, int]:
    """The unprivileged account that owns the maildirs.

    As root we hand mail to ``nobody``, which every Debian system has; otherwise Dovecot runs
    entirely as the current user (it cannot switch users then anyway).
    """
    entry = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    return entry.pw_name, entry.pw_uid, entry.pw_gid


class DovecotServer(Lifetime):
    """One Dovecot process with one user and a maildir under a temporary folder."""

    def __init__(
        self,
        username: str = "aliasdesk",
        password: str = "aliasdesk-secret",
        *,
        binary: str | None = None,
        startup_timeout: float = 15.0,
        tls: bool = False,
    ) -> None:
        """``tls=True`` adds a self-signed certificate (``cert_path``), STARTTLS on ``port``
        and implicit TLS on ``tls_port``; otherwise ``ssl = no`` and no STARTTLS at all."""
        found = binary or find_dovecot()
        if found is None:
            raise DovecotError("dovecot binary not found (apt-get install dovecot-imapd)")
        self.binary = found
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.username = username
        self.password = password
        self.startup_timeout = startup_timeout
        self._root = Path(tempfile.mkdtemp(prefix="aliasdesk-dovecot-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.cert_path: Path | None = self._make_certificate() if tls else None
        self._write_config()

    @property
    def root(self) -> Path:
        return self._root

    @property
    def config_path(self) -> Path:
        return self._root / "dovecot.conf"

    def _make_certificate(self) -> Path:
        cert, key = self._root / "cert.pem", self._root / "key.pem"
        request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        subprocess.run(
            [
                *request,
                *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
                *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            ],
            check=True,
            capture_output=True,
        )
        return cert

    def _ssl_settings(self) -> str:
        if self.cert_path is None:
            return "ssl = no"
        key = self.cert_path.with_name("key.pem")
        return f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{key}"

    def _write_config(self) -> None:
        name, uid, gid = _mail_account()
        as_root = os.geteuid() == 0
        self._root.chmod(0o755)  # mail processes run as `name` and must reach the maildir
        for sub in ("mail", "home", "state"):
            (self._root / sub).mkdir(mode=0o755, exist_ok=True)
            if as_root:
                os.chown(self._root / sub, uid, gid)
        (self._root / "users").write_text(f"{self.username}:{{PLAIN}}{self.password}::::::\n")
        group = _group_name(gid)
        self.config_path.write_text(
            _CONFIG.format(
                root=self._root,
                port=self.port,
                tls_port=self.tls_port,
                ssl=self._ssl_settings(),
                uid=uid,
                gid=gid,
                internal_user="dovecot" if as_root and _user_exists("dovecot") else name,
                internal_group="dovecot" if as_root and _user_exists("dovecot") else group,
                login_user="dovenull" if as_root and _user_exists("dovenull") else name,
            )
        )

    def start(self) -> None:
        if self._process is not None:
            return
        with open(self._root / "stderr.log", "ab") as stderr:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                # Own process group: stop() must also end the imap processes serving open
                # sessions, which outlive the master otherwise and keep old connections alive.
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        # Ready means it greets, not only that the port is open: on a loaded machine the
        # first login process can take seconds to start after the master listens, and a
        # client's own short timeout would then fail the test instead of this wait.
        while not (_greets(self.host, self.port) and self._takes_login()):
            if self._process.poll() is not None:
                self._process = None
                raise DovecotError(f"dovecot exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DovecotError(
                    f"dovecot did not greet and take a login within {self.startup_timeout}s"
                )
            time.sleep(0.02)

    def _takes_login(self) -> bool:
        """Whether a login succeeds: the login process greets before its auth process has
        answered, and a test's first login then failed with a temporary authentication
        error (seen once, in a full suite on a loaded machine)."""
        try:
            client = IMAPClient(self.host, self.port, ssl=False, timeout=5)
        except OSError:
            return False
        try:
            client.login(self.username, self.password)
            client.logout()
        except Exception:  # a refused login or a cut connection: not ready yet
            with contextlib.suppress(Exception):
                client.shutdown()
            return False
        return True

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        # A crash-like stop: every process of the instance is killed at once, as in a power cut
        # or an OOM kill, which is the fault the gateway must survive.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 5
        while port_open(self.host, self.port, timeout=0.1) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> None:
        """Stop and start again on the same port and maildir: mail and UIDVALIDITY survive."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("dovecot.log", "stderr.log"):
            path = self._root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def client(self) -> IMAPClient:
        # generous: right after a kill -9 restart on a loaded machine, Dovecot has been seen
        # to take over 10 s on its first mailbox command (twice in CI runs)
        client = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        client.login(self.username, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        self.append_many([raw], folder)

    def append_many(self, raws: Iterable[bytes], folder: str = "INBOX") -> None:
        try:
            client = self.client()
        except OSError as exc:
            raise DovecotError(f"could not log in: {exc}\n{self.log_tail()}") from exc
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in raws:
                client.append(folder, raw)
        except OSError as exc:  # a timeout: what Dovecot was doing is in its log
            raise DovecotError(f"APPEND failed: {exc}\n{self.log_tail()}") from exc
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def __exit__(self, *_exc: object) -> None:
        """A ``with`` block's instance leaves nothing behind, its files included."""
        self.cleanup()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name
