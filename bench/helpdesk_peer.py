"""django-helpdesk's `get_email` on the same mailbox, Dovecot and SMTP sink: the peer to beat.

django-helpdesk is installed from PyPI into its own virtualenv (never into ours: it pins
Django and friends) and driven by a minimal Django project written to a temporary folder
at bench time: SQLite, one queue reading the benchmark's IMAP folder, SMTP to the sink. We
time ``helpdesk.email.process_email`` inside that process (Django start-up excluded, as
aliasdesk's is) and count what the sink received.

Anything that goes wrong is returned as a reason, never raised: the summary shows "n/a"
with the reason and the rest of the benchmark goes on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

VERSION = "2.6.1"  # needs Python >= 3.10 and Django >= 5.2; the one FIELD-NOTES measured
VENV = Path(tempfile.gettempdir()) / f"aliasdesk-bench-helpdesk-{VERSION}"

_SETTINGS = """\
SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
SITE_ID = 1
ROOT_URLCONF = "benchsite.urls"
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django.contrib.sites", "django.contrib.humanize", "rest_framework",
    "account", "pinax.invitations", "pinax.teams", "helpdesk",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {{"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]}},
}}]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": "{root}/helpdesk.db"}}}}
MEDIA_ROOT = "{root}/media"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = {smtp_port}
EMAIL_USE_TLS = False
DEFAULT_FROM_EMAIL = "helpdesk@example.com"
LOGGING = {{"version": 1, "disable_existing_loggers": False}}
"""

_URLS = """\
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("helpdesk.urls", namespace="helpdesk")),
]
"""

# Runs inside the helpdesk virtualenv: make the queue, then time one get_email pass.
_DRIVER = """\
import json, os, sys, time
os.environ["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from helpdesk.models import Queue, Ticket
from helpdesk.email import process_email
Queue.objects.create(
    title="Service desk", slug="desk", email_address="helpdesk@example.com",
    allow_email_submission=True, email_box_type="imap", email_box_host="127.0.0.1",
    email_box_port=int(sys.argv[2]), email_box_ssl=False, email_box_user=sys.argv[3],
    email_box_pass=sys.argv[4], email_box_imap_folder=sys.argv[5], email_box_interval=0,
    logging_type="none",
)
started = time.monotonic()
process_email(quiet=True)
seconds = time.monotonic() - started
print(json.dumps({"seconds": seconds, "tickets": Ticket.objects.count()}))
"""


@dataclass
class PeerResult:
    mails_per_s: float | None
    seconds: float | None
    tickets: int
    mails_sent: int
    reason: str = ""


def ensure_installed() -> str | None:
    """Create the virtualenv once (kept across runs); returns why it failed, or None."""
    python = VENV / "bin" / "python"
    if python.exists() and _importable(python):
        return None
    try:
        # The benchmark's own interpreter (3.11) is the base; the venv shares nothing else.
        subprocess.run(
            [sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=120
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return f"cannot create a virtualenv: {exc}"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"django-helpdesk[teams]=={VERSION}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        return f"pip install django-helpdesk=={VERSION} failed: {_last_line(done.stderr)}"
    return None


def _importable(python: Path) -> bool:
    # helpdesk's migrations depend on pinax_teams' (the "teams" extra), though it is optional.
    check = [str(python), "-c", "import helpdesk, pinax.teams"]
    return subprocess.run(check, capture_output=True).returncode == 0


def _last_line(text: str) -> str:
    """The error itself, from the end of a traceback, for a one-line reason."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def _project(smtp_port: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="aliasdesk-bench-djh-"))
    package = root / "benchsite"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(_SETTINGS.format(root=root, smtp_port=smtp_port))
    (package / "urls.py").write_text(_URLS)
    (root / "driver.py").write_text(_DRIVER)
    (root / "media").mkdir()
    return root


def run_peer(
    *,
    imap_port: int,
    user: str,
    password: str,
    folder: str,
    smtp_port: int,
    mails: int,
    sent: Callable[[], int],
) -> PeerResult:
    """One timed get_email pass over ``folder``; ``sent()`` reads the sink's count."""
    reason = ensure_installed()
    if reason:
        return PeerResult(None, None, 0, 0, reason)
    python = str(VENV / "bin" / "python")
    root = _project(smtp_port)
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    migrate = subprocess.run(
        [
            python,
            "-c",
            "import django,os,sys;os.environ['DJANGO_SETTINGS_MODULE']='benchsite.settings';"
            "django.setup();from django.core.management import call_command;"
            "call_command('migrate',verbosity=0)",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if migrate.returncode != 0:
        return PeerResult(None, None, 0, 0, f"migrate failed: {_last_line(migrate.stderr)}")
    before = sent()
    done = subprocess.run(
        [python, str(root / "driver.py"), str(root), str(imap_port), user, password, folder],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        return PeerResult(None, None, 0, 0, f"get_email failed: {_last_line(done.stderr)}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(root, ignore_errors=True)  # the project and its database; kept on failure
    seconds = float(out["seconds"])
    return PeerResult(mails / seconds, seconds, int(out["tickets"]), sent() - before)
