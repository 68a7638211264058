"""The web's settings: the key is required where links are signed, and never shown."""

from __future__ import annotations

import pytest

from aliasdesk.settings.env import MASK, load_settings
from aliasdesk.settings.errors import SettingsError
from aliasdesk.settings.web import required_secret_key
from tests.e2e.test_cli import cli

KEY = "k" * 32


def test_the_web_settings_are_read_and_the_key_is_masked() -> None:
    settings = load_settings(
        {
            "ALIASDESK_WEB_URL": "https://desk.example.com/",
            "ALIASDESK_WEB_PORT": "8099",
            "ALIASDESK_SECRET_KEY": KEY,
        },
        env_file=None,
    )
    assert (settings.web_url, settings.web_port) == ("https://desk.example.com", 8099)
    assert required_secret_key(settings) == KEY
    assert settings.redacted()["secret_key"] == MASK
    assert KEY not in repr(settings)


def test_defaults_put_no_link_in_mail() -> None:
    settings = load_settings({}, env_file=None)
    assert (settings.web_url, settings.web_port, settings.secret_key) == (None, 8025, None)


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"ALIASDESK_WEB_URL": "https://desk.example.com"}, "required while ALIASDESK_WEB_URL"),
        ({"ALIASDESK_SECRET_KEY": "short"}, "at least 32 characters"),
        ({"ALIASDESK_WEB_URL": "desk.example.com", "ALIASDESK_SECRET_KEY": KEY}, "https://"),
    ],
)
def test_unusable_web_settings_stop_start_up(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ, env_file=None)
    assert problem in "\n".join(raised.value.describe())


def test_aliasdesk_web_without_a_key_names_the_variable_and_exits_2() -> None:
    result = cli("web")
    assert result.returncode == 2, result.stderr
    assert "ALIASDESK_SECRET_KEY" in result.stderr
