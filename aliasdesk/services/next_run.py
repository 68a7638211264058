"""When a process next has scheduled work to do (digests, weekly reports, retention).

The relay loop looks several times a second; what it asks here must cost no query and no
walk over the departments. Each job says, when it has run, the next moment it falls due
(derived from its schedule, or from the time its last run was stored); until then a look
is one comparison. A routing file read anew (new members, another time, retention
switched on) may change the answer, so a new configuration is always due at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aliasdesk.domain.organisation import RoutingConfig


@dataclass
class NextRun:
    """The next moment a scheduled job is due, and the routing file it was derived from;
    ``at`` None after a run: not due again until the routing file changes."""

    at: datetime | None = None
    config: RoutingConfig | None = field(default=None, repr=False)

    def due(self, config: RoutingConfig, now: datetime) -> bool:
        if config is not self.config:
            return True
        return self.at is not None and now >= self.at

    def after(self, config: RoutingConfig, at: datetime | None) -> None:
        """Remember the job ran with ``config`` and is next due at ``at``."""
        self.config, self.at = config, at
