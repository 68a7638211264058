"""Settings from the environment and .env (CONTRACT §2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aliasdesk.settings.env import TEMPLATE_DIR, Settings, load_settings, mask_url
from aliasdesk.settings.errors import SettingsError


def load(environ: dict[str, str], env_file: Path | None = None) -> Settings:
    return load_settings(environ, env_file=env_file)


def test_defaults_are_the_embedded_ones(tmp_path: Path) -> None:
    settings = load({}, tmp_path / "absent.env")
    assert settings.database_url == "sqlite:///aliasdesk.db"
    assert settings.broker_url == "embedded" and settings.embedded_broker
    assert settings.routing_file == Path("config/routing.yaml")
    assert (settings.imap_host, settings.imap_port, settings.imap_security) == (None, 993, "ssl")
    assert settings.imap_folder == "INBOX"
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        None,
        587,
        "starttls",
    )
    assert settings.imap_poll_interval == 30
    assert settings.imap_batch_size == 100
    assert settings.imap_processed_folder is None
    assert settings.max_attachment_bytes == 25 * 1024 * 1024
    assert settings.template_dir == TEMPLATE_DIR
    assert TEMPLATE_DIR.parts[-2:] == ("templates", "email")
    assert settings.require_authentication_results is False
    assert settings.instance_id == "aliasdesk"
    assert settings.log_level == "INFO"
    assert settings.metrics_port is None
    assert settings.lmtp_port is None


def test_every_variable_is_read() -> None:
    settings = load(
        {
            "ALIASDESK_DATABASE_URL": "postgresql+psycopg://u:p@db/aliasdesk",
            "ALIASDESK_BROKER_URL": "redis://localhost:6379/0",
            "ALIASDESK_ROUTING_FILE": "/etc/aliasdesk/routing.yaml",
            "ALIASDESK_IMAP_HOST": "imap.example.com",
            "ALIASDESK_IMAP_PORT": "1993",
            "ALIASDESK_IMAP_USERNAME": "desk",
            "ALIASDESK_IMAP_PASSWORD": "imap-secret",
            "ALIASDESK_IMAP_SECURITY": "STARTTLS",
            "ALIASDESK_IMAP_FOLDER": "Desk",
            "ALIASDESK_IMAP_POLL_INTERVAL": "5",
            "ALIASDESK_IMAP_BATCH_SIZE": "20",
            "ALIASDESK_IMAP_PROCESSED_FOLDER": "Done",
            "ALIASDESK_SMTP_HOST": "smtp.example.com",
            "ALIASDESK_SMTP_PORT": "2525",
            "ALIASDESK_SMTP_USERNAME": "desk",
            "ALIASDESK_SMTP_PASSWORD": "smtp-secret",
            "ALIASDESK_SMTP_SECURITY": "none",
            "ALIASDESK_MAX_ATTACHMENT_BYTES": "1_000_000",
            "ALIASDESK_TEMPLATE_DIR": "/srv/templates",
            "ALIASDESK_REQUIRE_AUTH_RESULTS": "yes",
            "ALIASDESK_AUTHSERV_ID": "MX.Example.com.",
            "ALIASDESK_INSTANCE_ID": "desk-1",
            "ALIASDESK_LOG_LEVEL": "debug",
            "ALIASDESK_METRICS_PORT": "9100",
            "ALIASDESK_LMTP_PORT": "2424",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u:p@db/aliasdesk"
    assert settings.broker_url == "redis://localhost:6379/0" and not settings.embedded_broker
    assert settings.routing_file == Path("/etc/aliasdesk/routing.yaml")
    assert (settings.imap_host, settings.imap_port, settings.imap_security) == (
        "imap.example.com",
        1993,
        "starttls",
    )
    assert (settings.imap_username, settings.imap_password) == ("desk", "imap-secret")
    assert (settings.imap_folder, settings.imap_processed_folder) == ("Desk", "Done")
    assert (settings.imap_poll_interval, settings.imap_batch_size) == (5, 20)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        "smtp.example.com",
        2525,
        "none",
    )
    assert settings.smtp_password == "smtp-secret"
    assert settings.max_attachment_bytes == 1_000_000
    assert settings.template_dir == Path("/srv/templates")
    assert settings.require_authentication_results is True
    assert settings.authserv_id == "mx.example.com"
    assert (settings.instance_id, settings.log_level, settings.metrics_port) == (
        "desk-1",
        "DEBUG",
        9100,
    )
    assert settings.lmtp_port == 2424


@pytest.mark.parametrize(
    ("security", "imap", "smtp"),
    [("ssl", 993, 465), ("starttls", 143, 587), ("none", 143, 25)],
)
def test_ports_default_by_security(security: str, imap: int, smtp: int) -> None:
    settings = load({"ALIASDESK_IMAP_SECURITY": security, "ALIASDESK_SMTP_SECURITY": security})
    assert (settings.imap_port, settings.smtp_port) == (imap, smtp)


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\n"
        "ALIASDESK_IMAP_HOST=file.example.com\n"
        "export ALIASDESK_IMAP_USERNAME='from-file'\n"
        "ALIASDESK_IMAP_PASSWORD=pa$$word${HOME}\n"
        "ALIASDESK_SMTP_HOST=file-smtp.example.com\n"
        "ALIASDESK_IMAP_FOLDER=\n",
        encoding="utf-8",
    )
    settings = load({"ALIASDESK_SMTP_HOST": "env-smtp.example.com"}, env_file)
    assert settings.imap_host == "file.example.com"
    assert settings.imap_username == "from-file"
    assert settings.imap_password == "pa$$word${HOME}"  # no interpolation
    assert settings.smtp_host == "env-smtp.example.com"
    assert settings.imap_folder == "INBOX"  # empty means unset


def test_env_file_none_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ALIASDESK_IMAP_HOST=x.example\n", encoding="utf-8")
    assert load_settings({}, env_file=None).imap_host is None
    assert load_settings({}).imap_host == "x.example"  # default: .env in the working dir


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALIASDESK_INSTANCE_ID", "from-os")
    assert load_settings(env_file=tmp_path / "none").instance_id == "from-os"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IMAP_SECURITY", "tls", 'must be one of ssl | starttls | none, got "tls"'),
        ("SMTP_SECURITY", "plain", 'must be one of ssl | starttls | none, got "plain"'),
        ("IMAP_PORT", "imap", 'must be a whole number, got "imap"'),
        ("SMTP_PORT", "70000", "must be between 1 and 65535, got 70000"),
        ("METRICS_PORT", "0", "must be between 1 and 65535, got 0"),
        ("LMTP_PORT", "lmtp", 'must be a whole number, got "lmtp"'),
        ("IMAP_POLL_INTERVAL", "0", "must be between 1 and 86400, got 0"),
        ("IMAP_BATCH_SIZE", "-5", "must be between 1 and 100000, got -5"),
        ("MAX_ATTACHMENT_BYTES", "25MB", 'must be a whole number, got "25MB"'),
        ("REQUIRE_AUTH_RESULTS", "maybe", 'must be true or false, got "maybe"'),
        ("LOG_LEVEL", "loud", "must be one of DEBUG | INFO | WARNING | ERROR | CRITICAL"),
        ("INSTANCE_ID", "my desk", "must be 1 to 64 letters"),
        ("DATABASE_URL", "aliasdesk.db", "must be a URL"),
        ("BROKER_URL", "kafka://x", "must be embedded or a redis://"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load({f"ALIASDESK_{name}": value})
    (error,) = caught.value.errors
    assert (error.path, error.line, error.field) == ("environment", 0, f"ALIASDESK_{name}")
    assert message in error.message
    assert str(caught.value) == f"environment: ALIASDESK_{name}: {error.message}"


def test_all_bad_values_are_reported_with_env_file_lines(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "ALIASDESK_IMAP_HOST=ok.example\nALIASDESK_IMAP_PORT=abc\n\nALIASDESK_LOG_LEVEL=x\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as caught:
        load({"ALIASDESK_SMTP_SECURITY": "tls"}, env_file)
    assert [str(line) for line in caught.value.describe()] == [
        'environment: ALIASDESK_SMTP_SECURITY: must be one of ssl | starttls | none, got "tls"',
        f'{env_file}:2: ALIASDESK_IMAP_PORT: must be a whole number, got "abc"',
        f"{env_file}:4: ALIASDESK_LOG_LEVEL: must be one of DEBUG | INFO | WARNING | ERROR | "
        'CRITICAL, got "x"',
    ]


def test_passwords_never_show_in_repr_or_redacted() -> None:
    settings = load(
        {
            "ALIASDESK_IMAP_PASSWORD": "imap-secret",
            "ALIASDESK_SMTP_PASSWORD": "smtp-secret",
            "ALIASDESK_DATABASE_URL": "postgresql+psycopg://desk:db-secret@db:5432/desk",
            "ALIASDESK_BROKER_URL": "amqp://guest:mq-secret@mq//",
        }
    )
    text = repr(settings) + str(settings) + str(settings.redacted())
    for secret in ("imap-secret", "smtp-secret", "db-secret", "mq-secret"):
        assert secret not in text
    redacted = settings.redacted()
    assert redacted["imap_password"] == "********"
    assert redacted["database_url"] == "postgresql+psycopg://desk:********@db:5432/desk"
    assert redacted["routing_file"] == "config/routing.yaml"
    assert load({}).redacted()["smtp_password"] is None


def test_bad_url_message_does_not_leak_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        load({"ALIASDESK_BROKER_URL": "kafka://u:topsecret@host"})
    assert "topsecret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///aliasdesk.db", "sqlite:///aliasdesk.db"),
        ("redis://:pw@localhost:6379/0", "redis://:********@localhost:6379/0"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


OAUTH = {
    "ALIASDESK_OAUTH_TOKEN_URL": "https://login.example.com/tenant/oauth2/v2.0/token",
    "ALIASDESK_OAUTH_CLIENT_ID": "app-id",
    "ALIASDESK_OAUTH_CLIENT_SECRET": "client-secret-value",
    "ALIASDESK_OAUTH_REFRESH_TOKEN": "refresh-token-value",
    "ALIASDESK_OAUTH_SCOPE": "https://outlook.office365.com/.default",
}


def test_password_logins_are_the_default() -> None:
    settings = load({})
    assert (settings.imap_auth, settings.smtp_auth) == ("password", "password")
    assert settings.oauth_token_url is None and settings.oauth_client_id is None
    assert settings.oauth_refresh_token is None and settings.oauth_scope is None
    assert not settings.uses_oauth


def test_oauth_settings_are_read() -> None:
    settings = load({**OAUTH, "ALIASDESK_IMAP_AUTH": "OAuth2", "ALIASDESK_SMTP_AUTH": "oauth2"})
    assert (settings.imap_auth, settings.smtp_auth) == ("oauth2", "oauth2")
    assert settings.uses_oauth
    assert settings.oauth_token_url == OAUTH["ALIASDESK_OAUTH_TOKEN_URL"]
    assert (settings.oauth_client_id, settings.oauth_client_secret) == (
        "app-id",
        "client-secret-value",
    )
    assert settings.oauth_refresh_token == "refresh-token-value"
    assert settings.oauth_scope == "https://outlook.office365.com/.default"


def test_oauth_secrets_never_show() -> None:
    settings = load({**OAUTH, "ALIASDESK_SMTP_AUTH": "oauth2"})
    text = repr(settings) + str(settings.redacted())
    assert "client-secret-value" not in text and "refresh-token-value" not in text
    assert settings.redacted()["oauth_client_secret"] == "********"
    assert settings.redacted()["oauth_token_url"] == OAUTH["ALIASDESK_OAUTH_TOKEN_URL"]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("ALIASDESK_OAUTH_TOKEN_URL", "needs ALIASDESK_OAUTH_TOKEN_URL"),
        ("ALIASDESK_OAUTH_CLIENT_ID", "needs ALIASDESK_OAUTH_CLIENT_ID"),
    ],
)
def test_oauth2_without_its_endpoint_or_client_is_refused(missing: str, message: str) -> None:
    environ = {k: v for k, v in OAUTH.items() if k != missing}
    with pytest.raises(SettingsError) as caught:
        load({**environ, "ALIASDESK_IMAP_AUTH": "oauth2"})
    assert f"environment: ALIASDESK_IMAP_AUTH: oauth2 {message}" in str(caught.value)


def test_client_credentials_without_a_secret_is_refused() -> None:
    environ = {
        k: v
        for k, v in OAUTH.items()
        if k not in ("ALIASDESK_OAUTH_REFRESH_TOKEN", "ALIASDESK_OAUTH_CLIENT_SECRET")
    }
    with pytest.raises(SettingsError, match=r"ALIASDESK_SMTP_AUTH: .*client-credentials"):
        load({**environ, "ALIASDESK_SMTP_AUTH": "oauth2"})
    # With a refresh token a public client (no secret) is fine.
    assert load({**environ, "ALIASDESK_SMTP_AUTH": "oauth2", "ALIASDESK_OAUTH_REFRESH_TOKEN": "rt"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ALIASDESK_IMAP_AUTH", "kerberos", "must be one of password | oauth2"),
        ("ALIASDESK_OAUTH_TOKEN_URL", "login.example.com/token", "must be an https://"),
    ],
)
def test_bad_oauth_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load({name: value})
    assert f"{name}: {message}" in str(caught.value)


def test_oauth_settings_are_not_checked_when_unused() -> None:
    assert load({"ALIASDESK_OAUTH_CLIENT_ID": "app-id"}).imap_auth == "password"


def test_the_outside_mail_limit_is_read_and_checked() -> None:
    assert load({}).outside_mail_per_minute == 120
    assert load({"ALIASDESK_OUTSIDE_MAIL_PER_MINUTE": "600"}).outside_mail_per_minute == 600
    assert load({"ALIASDESK_OUTSIDE_MAIL_PER_MINUTE": "0"}).outside_mail_per_minute == 0
    with pytest.raises(SettingsError) as caught:
        load({"ALIASDESK_OUTSIDE_MAIL_PER_MINUTE": "lots"})
    assert "ALIASDESK_OUTSIDE_MAIL_PER_MINUTE" in str(caught.value)


def test_requiring_authentication_results_needs_the_servers_authserv_id() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"ALIASDESK_REQUIRE_AUTH_RESULTS": "true"}, env_file=None)
    assert "ALIASDESK_AUTHSERV_ID" in str(raised.value)


@pytest.mark.parametrize("value", ["mx example.com", "mx.example.com; dmarc=pass", "-mx.example"])
def test_an_authserv_id_is_a_host_name(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"ALIASDESK_AUTHSERV_ID": value}, env_file=None)
    assert "AUTHSERV_ID" in str(raised.value)
