"""A private Postfix instance for tests: a real MTA between aliasdesk and the world.

Started from its own configuration folder (``postfix -c DIR start``, FIELD-NOTES), listening
on 127.0.0.1 and a free port, with no local delivery and no DNS: every domain a test names
is routed to an SMTP server on loopback (``transport_maps``), and any other is refused.
So a mail to a "partner" server that refuses the recipient comes back as the standard
RFC 3464 report Postfix writes, to the envelope sender, through the same transport.

The system service is not needed and never touched. Installing Postfix (Debian 12):
``echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections``,
then ``DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix``
(.ci/install-postfix.sh; about 12 s here).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port, port_open, service_missing

__all__ = ["PostfixError", "PostfixServer", "find_postfix"]

_SERVICES = """\
{listen} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
lmtp unix - - n - - lmtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

_MAIN = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.aliasdesk.test
mydomain = aliasdesk.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, reject
transport_maps = texthash:{root}/conf/transport
default_transport = error:this test instance reaches no other destination
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = no
biff = no
maillog_file = {root}/log/maillog
maillog_file_prefixes = {root}
"""


class PostfixError(RuntimeError):
    """The private instance could not be started."""


def find_postfix() -> str | None:
    """The ``postfix`` command, or None when Postfix is not installed."""
    found = shutil.which("postfix")
    if found is None and Path("/usr/sbin/postfix").exists():
        found = "/usr/sbin/postfix"
    return found


class PostfixServer:
    """Postfix on 127.0.0.1:``port``, relaying each domain to a loopback SMTP port."""

    def __init__(
        self, routes: Mapping[str, int], transports: Mapping[str, str] | None = None
    ) -> None:
        """``routes``: domain -> loopback SMTP port; ``transports``: domain -> any Postfix
        transport, such as ``lmtp:inet:127.0.0.1:PORT`` (LMTP delivery)."""
        self.routes = dict(routes)
        self.transports = dict(transports or {})
        self.host = "127.0.0.1"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="aliasdesk-postfix-"))
        self._command = find_postfix() or "postfix"

    @property
    def log(self) -> str:
        path = self.root / "log" / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 30.0) -> PostfixServer:
        self._configure()
        result = self._postfix("start")
        if result.returncode != 0:
            raise PostfixError(f"postfix start: {result.stderr.strip() or result.stdout.strip()}")
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if time.monotonic() > deadline:
                raise PostfixError(f"no answer on port {self.port}:\n{self.log[-2000:]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        self._postfix("stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _configure(self) -> None:
        self.root.chmod(0o755)  # Postfix's daemons run as "postfix" and must get in
        for folder in ("conf", "queue", "data", "log"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root / "data", user="postfix")
        conf = self.root / "conf"
        (conf / "main.cf").write_text(_MAIN.format(root=self.root))
        (conf / "master.cf").write_text(_SERVICES.format(listen=f"{self.host}:{self.port}"))
        routes = "".join(f"{d} smtp:[127.0.0.1]:{p}\n" for d, p in self.routes.items())
        routes += "".join(f"{d} {t}\n" for d, t in self.transports.items())
        (conf / "transport").write_text(routes)

    def _postfix(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self._command, "-c", str(self.root / "conf"), action],
            capture_output=True,
            text=True,
            timeout=60,
        )


@contextmanager
def running_postfix(
    routes: Mapping[str, int], transports: Mapping[str, str] | None = None
) -> Iterator[PostfixServer]:
    """A started :class:`PostfixServer`, stopped when the block ends; where Postfix is
    missing or will not start, the test is skipped locally and fails in CI."""
    if find_postfix() is None:
        service_missing("postfix", "not installed; bash .ci/install-postfix.sh")
    server = PostfixServer(routes, transports)
    try:
        server.start()
    except (PostfixError, OSError, LookupError) as exc:
        server.stop()
        service_missing("postfix", str(exc))
    try:
        yield server
    finally:
        server.stop()
