"""Where the mail templates and the example configuration that come with aliasdesk are.

Both live at the top of the repository (``templates/email/``, ``config/``), the one place
they are edited. An installed wheel has no repository beside it, so the build copies them
into the package as ``aliasdesk/shipped/`` (see ``setup.py``). A checkout, and an editable
install that runs from one, reads the repository's folders directly, so an edited template
counts at once and a stale copy can never win. ``ALIASDESK_TEMPLATE_DIR`` and
``ALIASDESK_ROUTING_FILE`` (see ``aliasdesk.settings.env``) take precedence over both.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = "aliasdesk"
SHIPPED = "shipped"
TEMPLATES = ("templates", "email")
WEB_TEMPLATES = ("templates", "web")
SNIPPETS = ("templates", "snippets")
CONFIG = ("config",)
EXAMPLE_ROUTING = "routing.yaml"


def package_folder() -> Path:
    """The folder the ``aliasdesk`` package is imported from."""
    return Path(str(resources.files(PACKAGE)))


def checkout_folder() -> Path | None:
    """The repository the package runs from, or None when it is installed.

    A checkout is recognised by the ``pyproject.toml`` beside the package: a folder that
    merely happens to be called ``templates`` next to ``site-packages/aliasdesk`` must not
    be mistaken for the product's own templates.
    """
    root = package_folder().parent
    return root if (root / "pyproject.toml").is_file() else None


def shipped_path(*parts: str) -> Path:
    """``parts`` (e.g. ``"templates", "email"``) in the checkout, else inside the package."""
    checkout = checkout_folder()
    if checkout is not None and checkout.joinpath(*parts).exists():
        return checkout.joinpath(*parts)
    return package_folder().joinpath(SHIPPED, *parts)


def template_dir() -> Path:
    """The notification templates used when ``ALIASDESK_TEMPLATE_DIR`` is unset."""
    return shipped_path(*TEMPLATES)


def web_template_dir() -> Path:
    """The templates of the web pages (``aliasdesk web``)."""
    return shipped_path(*WEB_TEMPLATES)


def snippet_dir() -> Path:
    """The saved answers of ``#reply NAME`` used when ``ALIASDESK_SNIPPET_DIR`` is unset."""
    return shipped_path(*SNIPPETS)


def example_config_dir() -> Path:
    """The example configuration: ``routing.yaml`` and ``examples/``."""
    return shipped_path(*CONFIG)


def example_routing_file() -> Path:
    """The example routing file: what ``aliasdesk demo`` routes by and admins start from."""
    return example_config_dir() / EXAMPLE_ROUTING
