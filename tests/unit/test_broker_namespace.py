"""ALIASDESK_BROKER_NAMESPACE: the prefix of Dramatiq's Redis keys, checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from aliasdesk.settings.env import BROKER_NAMESPACE, Settings, load_settings
from aliasdesk.settings.errors import SettingsError
from tests.support.fresh_process import printed_by_fresh_process
from worker.broker import make_broker

REDIS = {"ALIASDESK_BROKER_URL": "redis://localhost:6379/0"}
AMQP = {"ALIASDESK_BROKER_URL": "amqp://guest:mq-secret@mq//"}


def load(environ: dict[str, str], env_file: Path | None = None) -> Settings:
    return load_settings(environ, env_file=env_file)


def test_the_default_is_dramatiqs_own() -> None:
    assert BROKER_NAMESPACE == "dramatiq"
    assert load({}).broker_namespace == "dramatiq"
    assert load(REDIS).broker_namespace == "dramatiq"
    assert load({**REDIS, "ALIASDESK_BROKER_NAMESPACE": ""}).broker_namespace == "dramatiq"


@pytest.mark.parametrize(
    "value",
    ["aliasdesk", "desk-prod", "aliasdesk-test-4242-0a1b2c3d", "team.a:desk_2", "7", "x" * 64],
)
def test_valid_namespaces_are_kept(value: str) -> None:
    settings = load({**REDIS, "ALIASDESK_BROKER_NAMESPACE": value})
    assert settings.broker_namespace == value
    assert settings.redacted()["broker_namespace"] == value


@pytest.mark.parametrize(
    "value",
    [
        "x" * 65,
        "two words",
        "tab\there",
        "new\nline",
        "nul\x00byte",
        "bell\x07",
        "-leading-dash",
        ".leading-dot",
        ":leading-colon",
        "glob*",
        "brace{x}",
        "slash/name",
        "umlaut-ä",
    ],
)
def test_bad_namespaces_name_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load({**REDIS, "ALIASDESK_BROKER_NAMESPACE": value})
    (error,) = caught.value.errors
    assert (error.path, error.line, error.field) == (
        "environment",
        0,
        "ALIASDESK_BROKER_NAMESPACE",
    )
    assert "must be 1 to 64 letters, digits" in error.message
    assert str(caught.value).startswith("environment: ALIASDESK_BROKER_NAMESPACE: ")


def test_a_bad_namespace_in_env_file_points_at_its_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "ALIASDESK_BROKER_URL=redis://localhost:6379/0\nALIASDESK_BROKER_NAMESPACE=a b\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as caught:
        load({}, env_file)
    (error,) = caught.value.errors
    assert (error.path, error.line, error.field) == (str(env_file), 2, "ALIASDESK_BROKER_NAMESPACE")


def test_rabbitmq_refuses_a_namespace_it_cannot_honour() -> None:
    with pytest.raises(SettingsError) as caught:
        load({**AMQP, "ALIASDESK_BROKER_NAMESPACE": "desk-prod"})
    (error,) = caught.value.errors
    assert error.field == "ALIASDESK_BROKER_NAMESPACE"
    assert "Redis brokers only" in error.message and "virtual host" in error.message
    assert "mq-secret" not in str(caught.value)


@pytest.mark.parametrize("value", ["", "dramatiq"])
def test_rabbitmq_accepts_the_default(value: str) -> None:
    assert load({**AMQP, "ALIASDESK_BROKER_NAMESPACE": value}).broker_namespace == "dramatiq"


def test_the_embedded_broker_ignores_a_namespace() -> None:
    settings = load({"ALIASDESK_BROKER_NAMESPACE": "desk-prod"})
    assert settings.embedded_broker and settings.broker_namespace == "desk-prod"


def test_make_broker_refuses_a_namespace_on_rabbitmq() -> None:
    with pytest.raises(ValueError, match="ALIASDESK_BROKER_NAMESPACE"):
        make_broker("amqp://guest:guest@127.0.0.1:5672/", "desk-prod")


@pytest.mark.parametrize(
    ("url", "other"),
    [(REDIS["ALIASDESK_BROKER_URL"], "pika"), (AMQP["ALIASDESK_BROKER_URL"], "redis")],
)
def test_a_broker_loads_only_its_own_client(url: str, other: str) -> None:
    """A Redis worker holds no RabbitMQ client, and a RabbitMQ worker no Redis client
    (neither broker connects before its first message)."""
    probe = (
        "import sys\n"
        "from worker.broker import make_broker\n"
        f"make_broker({url!r})\n"
        f"print({other!r} in sys.modules)\n"
    )
    assert printed_by_fresh_process(probe) == "False"
