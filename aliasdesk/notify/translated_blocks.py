"""``{% trans %}`` blocks translated once, when a template is compiled, not on every render.

Each language has a Jinja environment of its own with its catalog installed
(notify/render.py), so a template compiled there is only ever rendered in that language.
Jinja's i18n extension still compiles every block to a call of ``gettext`` through the
render context, and that call was about a sixth of the time it takes to render a mail:
some thirty blocks a mail, each one a catalog lookup, two trips through ``Context.call``
and a new ``Markup``. Here the block becomes the translated text itself, a constant,
formatted with the block's variables exactly as the newstyle ``gettext`` does: marked safe
where the template autoescapes, then ``%`` with the variables (escaped by ``Markup``
there), so ``%%`` still reads as ``%`` and ``%(name)s`` as the value.

Blocks with a plural or a context, and ``_()`` called in an expression, keep Jinja's own
call. An environment that was given no catalog (``TRANSLATIONS_ATTRIBUTE`` unset) keeps it
everywhere.
"""

from __future__ import annotations

import gettext

from jinja2 import nodes
from jinja2.ext import InternationalizationExtension

TRANSLATIONS_ATTRIBUTE = "aliasdesk_translations"
"""Where notify/render.py leaves an environment's catalog for this extension."""


class TranslatedBlocks(InternationalizationExtension):
    """The i18n extension, with plain ``{% trans %}`` blocks translated at compile time."""

    def _make_node(
        self,
        singular: str,
        plural: str | None,
        context: str | None,
        variables: dict[str, nodes.Expr],
        plural_expr: nodes.Expr | None,
        vars_referenced: bool,
        num_called_num: bool,
    ) -> nodes.Output:
        catalog: gettext.NullTranslations | None = getattr(
            self.environment, TRANSLATIONS_ATTRIBUTE, None
        )
        if catalog is None or plural_expr is not None or context is not None:
            return super()._make_node(
                singular, plural, context, variables, plural_expr, vars_referenced, num_called_num
            )
        text = nodes.MarkSafeIfAutoescape(nodes.Const(catalog.gettext(singular)))
        values = nodes.Dict([nodes.Pair(nodes.Const(k), v) for k, v in variables.items()])
        return nodes.Output([nodes.Mod(text, values)])
