"""The weekly report of the week in progress, as someone signed in to the dashboard
reads it: the same facts, charts and words the leads' weekly mail has.

The week is the dashboard's "This week" (Monday to Sunday on the department's clock),
counted as the weekly report counts a week (:func:`report_facts`), so the charts' totals
are the figures the dashboard's table shows. It speaks the language the viewer's own
weekly report would be written in (their choice in the routing file, else their
department's), with that mail's translated words.
"""

from __future__ import annotations

import gettext
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from aliasdesk.domain.organisation import Department, RoutingConfig
from aliasdesk.notify.catalogue.weekly_report import WeeklyReportContext, report_context
from aliasdesk.notify.language import MailLocale, cached_catalog
from aliasdesk.services.dashboard import period_days
from aliasdesk.services.languages import mail_locale
from aliasdesk.services.scheduled_mail import department_zone
from aliasdesk.services.weekly_report import WEEK, ReportWeek, report_facts
from aliasdesk.settings.shipped import template_dir


def current_week(department: Department, now: datetime) -> ReportWeek:
    """The calendar week that holds ``now`` on the department's clock; the report of a
    week is due on the Monday after it."""
    first, _ = period_days(department, "week", now)
    return ReportWeek(department, first + WEEK, department_zone(department))


@dataclass(frozen=True)
class ViewerReport:
    """A department's report as one viewer reads it. ``version`` changes whenever a
    figure or the language does, so a picture drawn of it can be kept by its version."""

    report: WeeklyReportContext
    locale: MailLocale
    version: str


def viewer_report(
    session: Session, config: RoutingConfig, department: Department, viewer: str, now: datetime
) -> ViewerReport:
    """The report of ``department``'s current week for ``viewer``, and how it speaks.
    The caller has checked that ``viewer`` may read the department."""
    facts = report_facts(session, current_week(department, now))
    locale = mail_locale(session, config, None, viewer, "staff", department.key)
    stated = json.dumps([facts, locale.language], sort_keys=True, default=str)
    version = hashlib.sha256(stated.encode()).hexdigest()[:20]
    return ViewerReport(report_context(facts, viewer), locale, version)


def catalog(language: str) -> gettext.NullTranslations:
    """The mail catalog of ``language``: the weekly report's words are translated there,
    for the mail and the dashboard alike."""
    return cached_catalog(template_dir(), language)
