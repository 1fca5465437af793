"""The Today list in pages (issue 15 item 3): critical items first across pages, the filters
kept by the page navigation, a page number checked at the door; a stored decision altered in the
database shows DECISION_ROW_TAMPERED on the list (issue 13)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from sqlalchemy import update

from inoplan.web import views
from tests.web.conftest import TODAY, course_document, csrf_of, login

VOD = {"date": TODAY.isoformat(), "type": "toxicity", "term": "vod", "grade": 3}


def courses(new_course: Any, due: int, stopped: int) -> tuple[list[int], list[int]]:
    """``due`` courses with a dose due (give) and ``stopped`` ones to discontinue (critical)."""
    given: list[int] = []
    stops: list[int] = []
    for i in range(due + stopped):
        document = copy.deepcopy(course_document())
        document["patient"]["id"] = f"WEB-P{i:02d}"
        if i >= due:
            document["events"].append(VOD)
        (stops if i >= due else given).append(new_course(document))
    return given, stops


def listed(html: str) -> list[int]:
    """The course ids of the rows shown, in order."""
    return [int(n) for n in re.findall(r'<td data-label="Patient"><a href="/courses/(\d+)', html)]


def test_critical_items_come_first_across_pages(
    client: Any, new_course: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    given, stops = courses(new_course, 3, 2)
    monkeypatch.setattr(views, "TODAY_PAGE_SIZE", 2)
    login(client, "prescriber")
    first = client.get("/")
    assert first.status_code == 200
    assert sorted(listed(first.text)) == stops  # both critical items on page 1
    assert "Courses 1 to 2 of 5 in this list" in first.text
    assert "<strong>2 critical items</strong> in this list" in first.text
    assert "more on the next pages" not in first.text
    assert '<nav class="pages" aria-label="Pages of the list (top)">' in first.text
    assert '<span aria-current="page">Page 1</span>' in first.text
    assert '<a href="/?show=action&amp;page=2">Next page</a>' in first.text
    assert "Previous page" not in first.text
    second = client.get("/?show=action&page=2")
    assert listed(second.text) and set(listed(second.text)) <= set(given)
    assert "Courses 3 to 4 of 5" in second.text and "2 on earlier pages" in second.text
    assert '<a href="/?show=action&amp;page=1">Previous page</a>' in second.text
    last = client.get("/?show=action&page=99")  # past the end: the last page
    assert "Courses 5 to 5 of 5" in last.text and "Next page" not in last.text
    everything = set(listed(first.text) + listed(second.text) + listed(last.text))
    assert everything == set(given + stops)


def test_more_critical_items_than_a_page_are_counted_on_page_one(
    client: Any, new_course: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, stops = courses(new_course, 1, 3)
    monkeypatch.setattr(views, "TODAY_PAGE_SIZE", 2)
    login(client, "prescriber")
    first = client.get("/")
    assert set(listed(first.text)) < set(stops)
    assert re.search(
        r'role="alert"><strong>3 critical items</strong>.*?<strong>1 more on the next pages',
        first.text,
        re.S,
    )


def test_the_filters_stay_with_the_pages(
    client: Any, new_course: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    courses(new_course, 3, 0)
    monkeypatch.setattr(views, "TODAY_PAGE_SIZE", 1)
    login(client, "prescriber")
    page = client.get(f"/?show=all&for=prescriber&on={TODAY.isoformat()}&page=2")
    assert page.status_code == 200 and "Courses 2 to 2 of 3" in page.text
    assert '<a href="/?show=all&amp;for=prescriber&amp;page=3">Next page</a>' in page.text
    # the patient filter is posted (never in a URL): so are the other pages of its list
    token = csrf_of(page.text)
    posted = client.post(
        "/", data={"csrf_token": token, "show": "all", "patient": "web-p", "page": "3"}
    )
    assert posted.status_code == 200 and "Courses 3 to 3 of 3" in posted.text
    assert re.search(r'<input type="hidden" name="patient" value="web-p">', posted.text)
    assert '<input type="hidden" name="page" value="2">' in posted.text
    assert 'href="/?show=all' not in posted.text.split('<nav class="pages"', 1)[1]


@pytest.mark.parametrize("page", ["0", "x", "-1", "100001", "1.5"])
def test_a_page_number_is_checked_at_the_door(client: Any, course_id: int, page: str) -> None:
    login(client, "nurse")
    refused = client.get(f"/?page={page}")
    assert refused.status_code == 422 and "page: a whole number from 1 to 100000" in refused.text


def test_a_stored_decision_altered_in_the_database_shows_the_alert(
    client: Any, app: Any, new_course: Any
) -> None:
    from inoplan.persistence.rows import CurrentDecisionRow

    _, [stopped] = courses(new_course, 0, 1)
    login(client, "nurse")
    assert "Stored decision altered" not in client.get("/").text  # stores today's row
    database = app.state.database
    with database.uow(write=True) as uow:
        uow.session.execute(
            update(CurrentDecisionRow)
            .where(CurrentDecisionRow.course_id == stopped)
            .values(status="wait", critical=0, critical_codes="")
        )
        uow.commit()
    page = client.get("/?show=all")
    assert "Stored decision altered outside inoplan (recomputed)" in page.text
    assert "does not match its MAC (altered in the database)" in page.text
    assert re.search(rf'/courses/{stopped}".*?Discontinue', page.text, re.S)
