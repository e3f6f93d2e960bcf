"""Every route of the review app, with good and bad credentials and input, and a leak scan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from scipy.stats import spearmanr
from sqlalchemy import select

from jumeau.data.cohort import Cohort
from jumeau.review.app import SECURITY_HEADERS, create_app
from jumeau.review.store import Record, StudyStore
from jumeau.review.study import StudyCreated, create_study


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields of the vote form."""
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', html))


@pytest.fixture
def study(real: Cohort, artificial: Cohort, study_path: Path) -> StudyCreated:
    return create_study(real, artificial, study_path, reviewers=["alice", "bob"], records=12)


@pytest.fixture
def app(study: StudyCreated, study_path: Path):
    return create_app(study_path)


def _client(app, cookie: str | None = None, name: str = "jumeau_reviewer") -> TestClient:
    client = TestClient(app, follow_redirects=False)
    if cookie:
        client.cookies.set(name, cookie)
    return client


def _vote(client: TestClient, label: str = "artificial", **changes: object):
    fields = form_fields(client.get("/review").text)
    data = {
        "record": fields["record"],
        "csrf": fields["csrf"],
        "label": label,
        "confidence": "4",
        "variables": ["age", "tsize"],
        "remark": "too round",
    }
    data.update({k: v for k, v in changes.items()})  # type: ignore[misc]
    return client.post("/review/vote", data=data), fields["record"]


def test_login_link_sets_a_strict_cookie_and_leaves_the_address(app, study) -> None:
    response = _client(app).get(f"/login/{study.reviewer_tokens['alice']}")
    assert response.status_code == 303 and response.headers["location"] == "/review"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


@pytest.mark.parametrize("token", ["nope", "x" * 300, ""])
def test_bad_tokens_are_refused(app, token: str) -> None:
    client = _client(app, token or None)
    assert client.get(f"/login/{token or 'a'}").status_code == 401
    assert client.get("/review").status_code == 401
    assert (
        client.post(
            "/review/vote", data={"record": "r", "csrf": "c", "label": "real", "confidence": "3"}
        ).status_code
        == 401
    )


def test_a_reviewer_votes_on_every_record_then_is_thanked(app, study) -> None:
    client = _client(app, study.reviewer_tokens["alice"])
    seen = []
    for position in range(1, 13):
        page = client.get("/review")
        assert f"Record {position} of 12" in page.text
        response, record = _vote(client)
        assert response.status_code == 303, response.text
        seen.append(record)
    assert len(set(seen)) == 12
    assert "reviewed every record" in client.get("/review").text


def test_no_second_vote_and_no_vote_on_someone_elses_record(app, study) -> None:
    alice = _client(app, study.reviewer_tokens["alice"])
    response, record = _vote(alice)
    assert response.status_code == 303
    csrf = form_fields(alice.get("/review").text)["csrf"]
    again = alice.post(
        "/review/vote", data={"record": record, "csrf": csrf, "label": "real", "confidence": "1"}
    )
    assert again.status_code == 409 and "already voted" in again.text
    unknown = alice.post(
        "/review/vote", data={"record": "0" * 16, "csrf": csrf, "label": "real", "confidence": "1"}
    )
    assert unknown.status_code == 422


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"csrf": "forged"}, 403),
        ({"label": "maybe"}, 422),
        ({"confidence": "9"}, 422),
        ({"confidence": "high"}, 422),
        ({"variables": ["not_a_column"]}, 422),
        ({"remark": "x" * 3000}, 422),
    ],
)
def test_malformed_votes_are_refused(app, study, changes: dict, status: int) -> None:
    client = _client(app, study.reviewer_tokens["bob"])
    response, _ = _vote(client, **changes)
    assert response.status_code == status
    assert "Record 1 of 12" in client.get("/review").text  # nothing was recorded


def test_oversized_bodies_are_refused(app, study) -> None:
    client = _client(app, study.reviewer_tokens["bob"])
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = client.post("/review/vote", content=b"x" * 100_000, headers=form)
    assert response.status_code == 413

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(100):
            yield b"x" * 1000

    chunked = client.post("/review/vote", content=chunks(), headers=form)
    assert chunked.status_code == 411  # a form post declares its length
    upload = client.post("/review/vote", files={"f": ("a.bin", b"x" * 10)})
    assert upload.status_code == 415  # only plain form posts are accepted
    assert "Record 1 of 12" in client.get("/review").text


def test_a_non_ascii_csrf_value_is_refused_not_a_server_error(app, study) -> None:
    client = _client(app, study.reviewer_tokens["bob"])
    response, _ = _vote(client, csrf="é" * 10)
    assert response.status_code == 403


def test_the_owner_reads_results_and_closes_the_study(app, study) -> None:
    alice = _client(app, study.reviewer_tokens["alice"])
    for _ in range(12):
        _vote(alice)
    assert (
        _client(app, study.reviewer_tokens["alice"], "jumeau_admin").get("/admin").status_code
        == 401
    )
    assert _client(app).get(f"/admin/login/{study.reviewer_tokens['alice']}").status_code == 401
    login = _client(app).get(f"/admin/login/{study.admin_token}")
    assert login.status_code == 303
    owner = _client(app, study.admin_token, "jumeau_admin")
    page = owner.get("/admin")
    assert page.status_code == 200 and "alice" in page.text and "too round" in page.text
    results = owner.get("/admin/results.json").json()
    assert results["reviewers"][0]["votes"] == 12
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert owner.post("/admin/close", data={"csrf": "forged"}).status_code == 403
    assert owner.post("/admin/close", data={"csrf": csrf}).status_code == 303
    assert "accuracy" in alice.get("/review").text  # feedback only once the study is closed
    bob = _client(app, study.reviewer_tokens["bob"])
    assert "closed" in bob.get("/review").text


def test_french_interface(app, study) -> None:
    client = _client(app, study.reviewer_tokens["alice"])
    assert "Dossier 1 sur 12" in client.get("/review?lang=fr").text
    assert "Dossier 1 sur 12" in client.get("/review").text  # the choice is remembered
    other = _client(app, study.reviewer_tokens["bob"])
    assert "Dossier" in other.get("/review", headers={"accept-language": "fr-FR,fr"}).text


def test_nothing_a_reviewer_receives_tells_real_from_artificial(
    real: Cohort, artificial: Cohort, tmp_path: Path
) -> None:
    """Every page differs only by the record's values: the same words, the same fields, the
    same length of id; and neither ids nor order correlate with the truth."""
    path = tmp_path / "big.db"
    made = create_study(real, artificial, path, reviewers=["a"], records=200, seed=5)
    with StudyStore(path).session() as session:
        truth = {r.id: r.truth for r in session.scalars(select(Record))}
    client = _client(create_app(path), made.reviewer_tokens["a"])
    skeletons, order = set(), []
    for _ in range(200):
        page = client.get("/review")
        assert "truth" not in page.text.lower() and "holdout" not in page.text.lower()
        record = form_fields(page.text)["record"]
        order.append(truth[record])
        skeleton = re.sub(r'<td class="value">.*?</td>', "", page.text)
        skeleton = re.sub(r'value="[^"]*" ?>', "", re.sub(r"Record \d+", "", skeleton))
        skeleton = skeleton.replace(record, "")
        skeletons.add(skeleton)
        _vote(client)
    assert len(skeletons) == 1  # apart from values, ids and the counter, every page is identical
    is_real = [t == "real" for t in order]
    assert abs(spearmanr(range(200), is_real).statistic) < 0.25  # order says nothing
    ids = [int(r, 16) for r in truth]
    assert abs(spearmanr(ids, [truth[r] == "real" for r in truth]).statistic) < 0.25


def test_two_reviewers_voting_at_once_are_both_recorded(app, study, study_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def vote_all(name: str) -> int:
        client = _client(app, study.reviewer_tokens[name])
        return sum(_vote(client)[0].status_code == 303 for _ in range(12))

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(vote_all, ["alice", "bob"])) == [12, 12]
    # restarting the server loses nothing: a new app on the same file sees every vote
    owner = _client(create_app(study_path), study.admin_token, "jumeau_admin")
    assert owner.get("/admin/results.json").json()["votes"] == 24
