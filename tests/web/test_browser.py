"""A requester's visit in a real browser: headless Chromium from Debian's packages, driven
by Selenium, against uvicorn serving the pages, with links read out of caught mail.

Screenshots of each page land in tests/artifacts/ (kept by CI, ignored by git).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aliasdesk.db.queries import ticket_by_ref
from aliasdesk.runtime import Runtime
from aliasdesk.services import page_links
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, drain_jobs, feed, runtime_for
from tests.support.services import free_port, service_missing
from tests.web.conftest import AUTHSERV, DAVE, KEY, caught, member_mail, web_context
from web.server import BackgroundServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = (375, 812)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    driver_path = shutil.which("chromedriver") or (
        str(CHROMEDRIVER) if CHROMEDRIVER.exists() else None
    )
    if binary is None or driver_path is None:
        service_missing("Chromium", "install the chromium and chromium-driver packages")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    # A phone's viewport: a desktop window cannot be made this narrow.
    metrics = {"width": PHONE[0], "height": PHONE[1], "pixelRatio": 1.0}
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    driver = webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def served(sqlite_url: str, smtp_sink: SmtpSink) -> Iterator[tuple[Runtime, str]]:
    """A desk whose mail links to the pages uvicorn serves on a loopback port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runtime = runtime_for(
        sqlite_url, smtp_sink.port, web_url=base, secret_key=KEY, authserv_id=AUTHSERV
    )
    server = BackgroundServer(web_context(runtime), port).start()
    yield runtime, base
    server.stop()
    runtime.close()
    page_links.configure(None, None)


def _shot(driver: object, name: str) -> Path:
    """A full-length screenshot of the page at phone width."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    metrics = {"width": PHONE[0], "height": int(height), "deviceScaleFactor": 1, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # type: ignore[attr-defined]
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    phone = {**metrics, "height": PHONE[1]}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)  # type: ignore[attr-defined]
    assert path.stat().st_size > 5000, "the screenshot is empty"
    return path


def _charts_are_shown(driver: object, section: object) -> None:
    """The weekly report's three charts in ``section``: loaded pictures (the browser
    decoded them), shown at the phone's width, each with the figures in words."""
    from selenium.webdriver.common.by import By

    pictures = section.find_elements(By.CSS_SELECTOR, ".charts figure img")  # type: ignore[attr-defined]
    assert len(pictures) == 3
    for picture in pictures:
        loaded, natural, shown, source = driver.execute_script(  # type: ignore[attr-defined]
            "const i = arguments[0];"
            "return [i.complete, i.naturalWidth, i.clientWidth, i.currentSrc]",
            picture,
        )
        assert loaded and natural == 320, "the picture loaded, drawn for a phone"
        assert source.endswith("&for=phone")
        assert picture.is_displayed() and 250 < shown < PHONE[0], "shown, and within the phone"
        words = picture.get_attribute("alt")
        caption = picture.find_element(By.XPATH, "ancestor::figure/figcaption").text
        assert re.search(r"\d", words) and caption == words


def _crop(shot: Path, rect: dict[str, float], name: str) -> Path:
    """The part of a full-length screenshot ``rect`` (page coordinates) covers."""
    from PIL import Image

    box = (rect["x"], rect["y"], rect["x"] + rect["width"], rect["y"] + rect["height"])
    path = ARTIFACTS / name
    with Image.open(shot) as image:
        image.crop(tuple(round(edge) for edge in box)).save(path)
    return path


def _links_in(sink: SmtpSink, base: str, words: str) -> list[str]:
    mail = [c for c in caught(sink) if "dave@example.com" in c.recipients and words in c.text]
    assert mail, f"no mail to Dave saying {words!r}"
    return re.findall(re.escape(base) + r"/t/[A-Za-z0-9._-]+(?:/rate/[1-5])?", mail[-1].text)


def test_a_requester_reads_the_status_and_rates_in_a_browser(
    served: tuple[Runtime, str], smtp_sink: SmtpSink, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.select import Select

    runtime, base = served
    driver = browser
    feed(runtime, build_mail(DAVE, body="Which form do I need for parental leave from June?"))
    drain_jobs(runtime)
    (page,) = _links_in(smtp_sink, base, "Your request is now ticket")
    driver.get(page)  # type: ignore[attr-defined]
    find = driver.find_element  # type: ignore[attr-defined]
    assert find(By.ID, "status").text == "New"
    assert find(By.TAG_NAME, "h1").text == "Parental leave"
    ref = find(By.CLASS_NAME, "ref").text.removeprefix("Request ")
    assert "Which form do I need" in find(By.ID, "conversation").find_element(By.XPATH, "..").text
    widths = driver.execute_script(  # type: ignore[attr-defined]
        "return [window.innerWidth, document.documentElement.scrollWidth]"
    )
    assert widths[0] == PHONE[0] and widths[1] <= PHONE[0], "nothing spills sideways on a phone"
    _shot(driver, "ticket-page.png")

    feed(runtime, member_mail(ref, "#resolve\nUse form LV-2; I have attached it."))
    drain_jobs(runtime)
    ratings = [link for link in _links_in(smtp_sink, base, "How did we do?") if "/rate/" in link]
    assert len(ratings) == 5
    driver.get(ratings[4])  # type: ignore[attr-defined]
    five = find(By.CSS_SELECTOR, 'input[name="rating"][value="5"]')
    assert five.is_selected()
    assert find(By.ID, "status").text == "Solved"
    find(By.ID, "comment").send_keys("Quick and friendly, thanks!")
    _shot(driver, "rating-page.png")
    with runtime.db.reader() as session:
        ticket = ticket_by_ref(session, ref)
        assert ticket is not None and ticket.rating is None, "opening the page rated nothing"
    find(By.XPATH, '//button[text()="Send my rating"]').click()
    # Waits for the new page's notice (see _waiting).
    _waiting(driver).until(
        expected_conditions.text_to_be_present_in_element(
            (By.CLASS_NAME, "notice"), "Thank you for your rating"
        )
    )
    assert find(By.ID, "rating").text == "5 of 5"
    _shot(driver, "rated.png")
    with runtime.db.reader() as session:
        ticket = ticket_by_ref(session, ref)
        assert ticket is not None
        assert (ticket.rating, ticket.rating_comment) == (5, "Quick and friendly, thanks!")
    # The requester switches the page (and their mail) to German at the foot of the page.
    Select(find(By.ID, "language")).select_by_value("de")
    find(By.XPATH, '//button[text()="Change language"]').click()
    _waiting(driver).until(
        expected_conditions.text_to_be_present_in_element(
            (By.CLASS_NAME, "notice"), "Diese Seite und unsere Mails an Sie"
        )
    )
    assert find(By.TAG_NAME, "html").get_attribute("lang") == "de"
    assert find(By.ID, "status").text == "Erledigt"  # the German mail's word for "solved"
    assert find(By.ID, "rating").text == "5 von 5"
    _shot(driver, "language-chosen.png")


def _waiting(driver: object) -> Any:
    """A 15 s wait for the page a click leads to. The page being left may still answer for
    a moment, and a look at it while it goes ("aborted by navigation", a stale element) is
    an error of the browser, not a failure: looked at again, within the same deadline."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,))  # type: ignore[arg-type]


def test_a_reply_typed_on_the_page_waits_for_the_mailed_confirmation(
    served: tuple[Runtime, str], smtp_sink: SmtpSink, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    runtime, base = served
    driver = browser
    wait = _waiting(driver)
    feed(runtime, build_mail(DAVE, body="Which form do I need?"))
    drain_jobs(runtime)
    (page,) = _links_in(smtp_sink, base, "Your request is now ticket")
    driver.get(page)  # type: ignore[attr-defined]
    find = driver.find_element  # type: ignore[attr-defined]
    find(By.ID, "text").send_keys("Can I start on 15 June instead?")
    find(By.XPATH, '//button[text()="Send reply"]').click()
    notice = wait.until(expected_conditions.presence_of_element_located((By.CLASS_NAME, "notice")))
    assert "mailed you a link to confirm" in notice.text
    assert "15 June" not in find(By.ID, "conversation").find_element(By.XPATH, "..").text
    drain_jobs(runtime)
    mail = [c for c in caught(smtp_sink) if "confirm it here" in c.text][-1]
    assert mail.recipients == ["dave@example.com"]
    (confirm,) = re.findall(re.escape(base) + r"/t/\S+/confirm/\S+", mail.text)
    driver.get(confirm)  # type: ignore[attr-defined]
    assert "Can I start on 15 June instead?" in find(By.ID, "pending-text").text
    _shot(driver, "confirm-page.png")
    find(By.XPATH, '//button[text()="Yes, add my reply"]').click()
    notice = wait.until(expected_conditions.presence_of_element_located((By.CLASS_NAME, "notice")))
    assert "Your reply was added" in notice.text
    assert (
        "Can I start on 15 June instead?"
        in find(By.ID, "conversation").find_element(By.XPATH, "..").text
    )


def test_a_lead_signs_in_from_the_mailed_link_and_reads_the_dashboard(
    served: tuple[Runtime, str], smtp_sink: SmtpSink, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    runtime, base = served
    driver = browser
    wait = _waiting(driver)
    feed(runtime, build_mail(DAVE, body="Which form do I need?"))
    feed(runtime, build_mail(DAVE, subject="Payslip missing", body="November's is not there."))
    drain_jobs(runtime)
    driver.get(f"{base}/signin")  # type: ignore[attr-defined]
    find = driver.find_element  # type: ignore[attr-defined]
    find(By.ID, "address").send_keys("hanna@example.com")
    find(By.XPATH, '//button[text()="Mail me a sign-in link"]').click()
    asked = wait.until(expected_conditions.presence_of_element_located((By.ID, "asked")))
    assert "a sign-in link is on its way" in asked.text
    _shot(driver, "sign-in.png")
    drain_jobs(runtime)
    mail = [c for c in caught(smtp_sink) if "hanna@example.com" in c.recipients][-1]
    (link,) = re.findall(re.escape(base) + r"/signin/[A-Za-z0-9_-]+", mail.text)
    driver.get(link)  # type: ignore[attr-defined]
    _shot(driver, "sign-in-link.png")
    find(By.XPATH, '//button[text()="Sign me in"]').click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "viewer")))
    assert find(By.ID, "viewer").text == "hanna@example.com"
    hr = find(By.ID, "department-HR")
    assert hr.find_element(By.CSS_SELECTOR, '[data-figure="tickets_in"]').text == "2"
    queue = hr.find_elements(By.CSS_SELECTOR, "table.queue tbody tr")
    assert sorted(row.find_element(By.TAG_NAME, "td").text for row in queue) == ["HR-1", "HR-2"]
    assert all("Due " in row.text for row in queue)
    _charts_are_shown(driver, hr)
    widths = driver.execute_script(  # type: ignore[attr-defined]
        "return [window.innerWidth, document.documentElement.scrollWidth]"
    )
    assert widths[1] <= PHONE[0], "nothing spills sideways on a phone"
    whole = _shot(driver, "dashboard.png")
    _crop(whole, hr.find_element(By.CLASS_NAME, "charts").rect, "dashboard-charts.png")
    find(By.LINK_TEXT, "Last 4 weeks").click()
    wait.until(expected_conditions.url_contains("period=4weeks"))
    assert "Last 4 weeks" in find(By.CSS_SELECTOR, "table.figures caption").text
    find(By.XPATH, '//button[text()="Sign out"]').click()
    notice = wait.until(expected_conditions.presence_of_element_located((By.CLASS_NAME, "notice")))
    assert "signed out" in notice.text
    driver.get(f"{base}/dashboard")  # type: ignore[attr-defined]
    assert find(By.TAG_NAME, "h1").text == "Sign in to the dashboard"
