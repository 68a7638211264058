"""Passwords in database and broker URLs: masked wherever a URL is shown, however the
password is written, and refused where a driver would misread it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aliasdesk.settings.env import load_settings, mask_url
from aliasdesk.settings.errors import SettingsError
from aliasdesk.settings.url_secrets import MASK, hide_passwords, password_problem, url_password

RAW = "postgresql+psycopg://u:p@ss/w:rd@db.example:5432/aliasdesk"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (RAW, f"postgresql+psycopg://u:{MASK}@db.example:5432/aliasdesk"),
        ("postgresql://desk:a:b:c@db/desk", f"postgresql://desk:{MASK}@db/desk"),
        ("postgresql://desk:p%40ss%2Fw%3Ard@db/desk", f"postgresql://desk:{MASK}@db/desk"),
        ("redis://:s3cret@localhost:6379/0", f"redis://:{MASK}@localhost:6379/0"),
        ("amqp://guest:gu@st@rabbit:5672/vh", f"amqp://guest:{MASK}@rabbit:5672/vh"),
        ("postgresql://u:pw@h/db?sslmode=require", f"postgresql://u:{MASK}@h/db?sslmode=require"),
        (
            "postgresql://h/db?user=u&password=p@ss&sslmode=require",
            f"postgresql://h/db?user=u&password={MASK}&sslmode=require",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:////var/mail@archive/aliasdesk.db", "sqlite:////var/mail@archive/aliasdesk.db"),
        ("sqlite:///aliasdesk.db", "sqlite:///aliasdesk.db"),
        ("not a url at all", "not a url at all"),
    ],
)
def test_the_password_is_masked_however_it_is_written(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_the_password_is_read_to_the_last_at_sign() -> None:
    assert url_password(RAW) == "p@ss/w:rd"
    assert url_password("postgresql://u@h/db") is None


def test_a_password_drivers_would_cut_short_is_refused_without_showing_it() -> None:
    assert password_problem("postgresql://u:p%40ss@h/db") is None
    assert password_problem("postgresql://u:a:b@h/db") is None
    problem = password_problem(RAW)
    assert problem is not None and '"@" as %40' in problem and '"/" as %2F' in problem
    for variable in ("ALIASDESK_DATABASE_URL", "ALIASDESK_BROKER_URL"):
        url = RAW if variable.endswith("DATABASE_URL") else "redis://:p@ss/w:rd@cache:6379/0"
        with pytest.raises(SettingsError) as caught:
            load_settings({variable: url}, env_file=None)
        text = "\n".join(caught.value.describe())
        assert variable in text and "%40" in text and MASK in text
        assert "p@ss" not in text and "w:rd" not in text and "ss/w" not in text


def test_settings_show_an_escaped_password_masked() -> None:
    url = "postgresql+psycopg://desk:p%40ss%2Fw%3Ard@db:5432/desk"
    settings = load_settings({"ALIASDESK_DATABASE_URL": url}, env_file=None)
    assert settings.database_url == url
    assert settings.redacted()["database_url"] == f"postgresql+psycopg://desk:{MASK}@db:5432/desk"
    assert "p%40ss" not in repr(settings)


def test_hide_passwords_masks_the_password_as_written_and_decoded() -> None:
    url = "postgresql://u:p%40ss%2Fw%3Ard@h/db"
    message = "auth failed for p%40ss%2Fw%3Ard (that is p@ss/w:rd) at h"
    assert hide_passwords(message, url, "redis://cache:6379/0") == (
        f"auth failed for {MASK} (that is {MASK}) at h"
    )


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1),
    st.sampled_from(["postgresql+psycopg", "redis", "amqp"]),
)
def test_any_password_is_masked_whole(password: str, scheme: str) -> None:
    url = f"{scheme}://desk:{password}@db.example:5432/aliasdesk"
    assert mask_url(url) == f"{scheme}://desk:{MASK}@db.example:5432/aliasdesk"
    assert url_password(url) == password
    assert password_problem(url) is None or set(password) & set("@/?#")
