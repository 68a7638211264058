"""The error a command meets when its database cannot be used, in a module of its own:
the CLI catches it around every command, and importing it must not import SQLAlchemy
(about 0.4 s) before a command that may not need it, or before ``run`` starts its job
processes."""


class DatabaseUnavailable(Exception):
    """The database named by the settings is missing, unreachable or has no schema."""
