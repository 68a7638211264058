"""aliasdesk: department mail aliases turned into tracked, owned tickets."""

__version__ = "0.1.0"
