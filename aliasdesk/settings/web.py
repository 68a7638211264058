"""What the web pages need from the settings before they serve anything."""

from __future__ import annotations

from aliasdesk.settings.env import PREFIX, Settings
from aliasdesk.settings.errors import ConfigError, SettingsError
from aliasdesk.settings.web_key import KEY_HINT


def required_secret_key(settings: Settings) -> str:
    """The key that signs page links and forms; serving without one would make every
    link forgeable, so its absence stops the process and names the variable."""
    if not settings.secret_key:
        raise SettingsError(
            [
                ConfigError(
                    "environment", 0, PREFIX + "SECRET_KEY", f"required by the web: {KEY_HINT}"
                )
            ]
        )
    return settings.secret_key
