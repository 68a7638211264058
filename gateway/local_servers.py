"""Bundled mail servers for `aliasdesk demo` and the tests: nothing to install.

LocalImapServer runs pymap (pure Python, in-memory) in a child process; SmtpSink is an aiosmtpd
server in a thread that keeps every mail it is given. Both listen on 127.0.0.1 only, on a free
port, so a demo never exposes anything and parallel runs do not collide.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from imapclient import IMAPClient

from aliasdesk.transport.lifetime import Lifetime

log = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"

# pymap ships a console script but no __main__ module; calling its entry point through the
# running interpreter works whether or not the venv's bin directory is on PATH.
_PYMAP_MAIN = "import sys; from pymap.main import main; sys.exit(main())"


class LocalServerError(RuntimeError):
    """A bundled server did not start; the message says why and holds its output."""


class _PortTaken(LocalServerError):
    pass


def free_port(host: str = _LOOPBACK) -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class LocalImapServer(Lifetime):
    """pymap's in-memory backend with one demo user; its mail is gone when it stops."""

    def __init__(
        self,
        username: str = "demo",
        password: str = "demo",
        *,
        host: str = _LOOPBACK,
        port: int | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._port_chosen_here = port is None
        self.username = username
        self.password = password
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._output: Any = None

    def start(self) -> None:
        """Start pymap and return once a LOGIN succeeds, or raise LocalServerError."""
        if self._process is not None:
            return
        for attempt in range(3):
            try:
                self._start_once()
                return
            except _PortTaken:
                # Someone bound our free port between the check and pymap's bind.
                if not self._port_chosen_here or attempt == 2:
                    raise
                self.port = free_port(self.host)

    def _start_once(self) -> None:
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as pymap
        command = [
            sys.executable,
            "-P",  # not the working folder first on the module path: a pymap there is not ours
            "-c",
            _PYMAP_MAIN,
            "--host",
            self.host,
            "--port",
            str(self.port),
            # No certificate here, so STARTTLS must not be offered (pymap offers it by default
            # and then fails the handshake).
            "--no-tls",
            "--no-service",
            "admin",
            "dict",
            "--demo-user",
            self.username,
            "--demo-password",
            self.password,
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        log.info("local_imap.started host=%s port=%s user=%s", self.host, self.port, self.username)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                output = self._read_output()
                error = (
                    _PortTaken if "address already in use" in output.lower() else LocalServerError
                )
                raise error(f"pymap exited during start-up:\n{output}")
            if _port_open(self.host, self.port):
                try:
                    self.client().logout()
                    return
                except Exception as exc:  # not ready yet: the port opens before the backend
                    last_error = exc
            time.sleep(0.05)
        raise LocalServerError(
            f"pymap did not accept LOGIN on {self.host}:{self.port} within "
            f"{self.startup_timeout}s (last error: {last_error!r}):\n{self._read_output()}"
        )

    def _read_output(self) -> str:
        if self._output is None:
            return ""
        self._output.seek(0)
        text: str = self._output.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-20:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._output is not None:
            self._output.close()
            self._output = None

    def restart(self) -> None:
        """Stop and start on the same port. pymap keeps mail in memory: it all goes, and the
        folders come back with a new UIDVALIDITY."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self) -> IMAPClient:
        """A logged-in imapclient session (the caller logs out)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            client.login(self.username, self.password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        self.append_many([raw], folder)

    def append_many(self, raws: Iterable[bytes], folder: str = "INBOX") -> None:
        """Deliver many mails over one session: pymap's APPEND is slow (about 24/s), its
        MULTIAPPEND (RFC 3502) is not."""
        client = self.client()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            batch: list[bytes] = []
            for raw in raws:
                batch.append(raw)
                if len(batch) >= 100:
                    client.multiappend(folder, batch)
                    batch = []
            if batch:
                client.multiappend(folder, batch)
        finally:
            with contextlib.suppress(Exception):
                client.logout()


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One SMTP transaction as the sink saw it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class _Recorder:
    """aiosmtpd handler: keeps each message and wakes waiters."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.messages: list[ReceivedMail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", errors="surrogateescape")
        mail = ReceivedMail(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], data)
        with self.condition:
            self.messages.append(mail)
            self.condition.notify_all()
        return "250 Message accepted for delivery"


class SmtpSink(Lifetime):
    """An SMTP server that accepts everything and delivers nothing: the demo's outside world."""

    def __init__(self, *, host: str = _LOOPBACK, port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._recorder = _Recorder()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot: safe to iterate while mail keeps arriving."""
        with self._recorder.condition:
            return list(self._recorder.messages)

    def clear(self) -> None:
        with self._recorder.condition:
            self._recorder.messages.clear()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` mails arrived; False if ``timeout`` ran out first."""
        with self._recorder.condition:
            return self._recorder.condition.wait_for(
                lambda: len(self._recorder.messages) >= count, timeout=timeout
            )

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(self._recorder, hostname=self.host, port=self.port)
        try:
            controller.start()
        except Exception as exc:
            raise LocalServerError(f"SMTP sink could not start on {self.host}:{self.port}") from exc
        self._controller = controller
        log.info("smtp_sink.started host=%s port=%s", self.host, self.port)

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
