"""The unmodified PyGithub client against the sandbox: reads."""

# PyGithub's public ``raw_data`` completes a listed object with one GET per issue; ``_rawData`` is what
# the list page said, which is what these tests compare.

from __future__ import annotations

import github
import pytest

from sandbox.testing import SandboxHandle
from tests.sandbox.conftest import github_client


def truth_keys(handle: SandboxHandle, repo: str) -> set[str]:
    return {i["key"] for i in handle.truth()["items"] if i["tracker"] == "github" and i["scope"] == repo}


def test_list_issues_pages_through_link_headers_and_includes_pull_requests(sandbox: SandboxHandle) -> None:
    gh = github_client(sandbox, per_page=20)
    repo = gh.get_repo("acme/web")
    listed = list(repo.get_issues(state="all", sort="updated", direction="asc"))
    issues = {f"acme/web#{i.number}" for i in listed if "pull_request" not in i._rawData}
    prs = [i for i in listed if "pull_request" in i._rawData]

    assert issues == truth_keys(sandbox, "acme/web")
    assert prs, "the demo has pull requests in the issue list"
    assert all(i._rawData["pull_request"]["html_url"].endswith(f"/pull/{i.number}") for i in prs)
    pages = sandbox.stats()["by_endpoint"]["GET /repos/{owner}/{repo}/issues"]["200"]
    assert pages == -(-len(listed) // 20)  # one request per page, nothing more
    updated = [i._rawData["updated_at"] for i in listed]
    assert updated == sorted(updated)


def test_link_header_has_next_and_last_like_github(sandbox: SandboxHandle, gh: github.Github) -> None:
    status, headers, _ = gh.requester.requestJson(
        "GET", "/repos/acme/mobile/issues", parameters={"state": "all", "per_page": 10, "page": 2}
    )
    assert status == 200
    link = headers["link"]
    assert 'rel="prev"' in link and 'rel="next"' in link and 'rel="last"' in link and 'rel="first"' in link
    assert "page=3" in link.split('rel="next"')[0].rsplit("<", 1)[1]
    assert "per_page=10" in link


def test_filters_state_labels_since_and_direction(sandbox: SandboxHandle, gh: github.Github) -> None:
    repo = gh.get_repo("acme/web")
    truth = [i for i in sandbox.truth()["items"] if i["scope"] == "acme/web"]
    closed = {i["key"] for i in truth if i["status"] == "closed"}
    listed_closed = {
        f"acme/web#{i.number}" for i in repo.get_issues(state="closed") if "pull_request" not in i._rawData
    }
    assert listed_closed == closed

    epics = {i["key"] for i in truth if "epic" in i["labels"] and "checkout-v2" in i["labels"]}
    labelled = {f"acme/web#{i.number}" for i in repo.get_issues(state="all", labels=["epic", "checkout-v2"])}
    assert labelled == epics

    newest = sorted(truth, key=lambda i: i["updated"])[-5]["updated"]
    status, _, data = gh.requester.requestJson(
        "GET", "/repos/acme/web/issues", parameters={"state": "all", "since": newest, "sort": "updated"}
    )
    import json

    assert status == 200
    since_items = json.loads(data)
    assert since_items and all(i["updated_at"] >= newest for i in since_items)
    assert [i["updated_at"] for i in since_items] == sorted(
        (i["updated_at"] for i in since_items), reverse=True
    )


def test_etag_answers_304_without_spending_rate_limit(sandbox: SandboxHandle, gh: github.Github) -> None:
    path = "/repos/acme/api-gateway/issues"
    params = {"state": "all", "per_page": 100, "sort": "updated", "direction": "desc"}
    status, headers, _ = gh.requester.requestJson("GET", path, parameters=params)
    assert status == 200 and headers["etag"].startswith('W/"')
    remaining = int(headers["x-ratelimit-remaining"])

    status, again, body = gh.requester.requestJson(
        "GET", path, parameters=params, headers={"If-None-Match": headers["etag"]}
    )
    assert status == 304 and not body
    assert int(again["x-ratelimit-remaining"]) == remaining

    sandbox.mutate(tracker="github", op="touch", key="acme/api-gateway#3")
    status, changed, _ = gh.requester.requestJson(
        "GET", path, parameters=params, headers={"If-None-Match": headers["etag"]}
    )
    assert status == 200 and changed["etag"] != headers["etag"]
    assert sandbox.stats()["by_endpoint"]["GET /repos/{owner}/{repo}/issues"] == {"200": 2, "304": 1}


def test_get_issue_transferred_deleted_missing(sandbox: SandboxHandle, gh: github.Github) -> None:
    moved = sandbox.mutate(tracker="github", op="transfer", key="acme/web#40", to_repo="acme/mobile")
    sandbox.mutate(tracker="github", op="delete", key="acme/web#41")
    repo = gh.get_repo("acme/web")

    followed = repo.get_issue(40)  # PyGithub follows the 301 silently: compare the repository
    assert followed.repository_url.endswith("/repos/acme/mobile")
    assert f"acme/mobile#{followed.number}" == moved["key"]
    with pytest.raises(github.GithubException) as gone:
        repo.get_issue(41)
    assert gone.value.status == 410
    with pytest.raises(github.UnknownObjectException):
        repo.get_issue(9999)
    statuses = sandbox.stats()["by_endpoint"]["GET /repos/{owner}/{repo}/issues/{number}"]
    assert statuses == {"301": 1, "200": 1, "410": 1, "404": 1}


def test_sub_issues_parent_and_summaries(sandbox: SandboxHandle, gh: github.Github) -> None:
    epic = gh.get_repo("acme/web").get_issue(1)
    children = list(epic.get_sub_issues())
    truth = {i["key"]: i for i in sandbox.truth()["items"]}
    expected = {k for k, i in truth.items() if i["parent"] == "acme/web#1"}
    assert {f"acme/web#{c.number}" for c in children} == expected
    summary = epic._rawData["sub_issues_summary"]
    assert summary["total"] == len(expected)
    assert summary["completed"] == sum(1 for k in expected if truth[k]["status"] == "closed")

    child = gh.get_repo("acme/web").get_issue(children[0].number)
    assert child._rawData["parent_issue_url"].endswith("/repos/acme/web/issues/1")
    status, _, data = gh.requester.requestJson("GET", f"/repos/acme/web/issues/{child.number}/parent")
    assert status == 200 and '"number":1,' in data


def test_dependencies_blocked_by_and_blocking(sandbox: SandboxHandle, gh: github.Github) -> None:
    links = [
        (link["from"], link["to"])
        for link in sandbox.truth()["links"]
        if link["origin"] == "github_dependency"
    ]
    assert len(links) >= 15
    blocker_key, blocked_key = links[0]
    blocked_repo, blocked_number = blocked_key.split("#")
    blocked = gh.get_repo(blocked_repo).get_issue(int(blocked_number))
    blockers = {f"{b.repository_url.split('/repos/')[1]}#{b.number}" for b in blocked.get_blocked_by()}
    assert blockers == {f for f, t in links if t == blocked_key}
    assert blocked._rawData["issue_dependencies_summary"]["total_blocked_by"] == len(blockers)

    blocker_repo, blocker_number = blocker_key.split("#")
    blocker = gh.get_repo(blocker_repo).get_issue(int(blocker_number))
    blocking = {f"{b.repository_url.split('/repos/')[1]}#{b.number}" for b in blocker.get_blocking()}
    assert blocking == {t for f, t in links if f == blocker_key}


def test_milestones_labels_repos_and_issue_types(sandbox: SandboxHandle, gh: github.Github) -> None:
    org = gh.get_organization("acme")
    assert sorted(r.full_name for r in org.get_repos()) == ["acme/api-gateway", "acme/mobile", "acme/web"]
    repo = gh.get_repo("acme/mobile")
    milestones = {m.title: m for m in repo.get_milestones(state="all")}
    assert {"v2.0-beta", "v2.0", "v2.1"} <= set(milestones)
    assert milestones["v2.0-beta"].state == "closed"
    truth_releases = {
        r["name"]: r
        for r in sandbox.truth()["releases"]
        if r["tracker"] == "github" and r["scope"] == "acme/mobile"
    }
    assert truth_releases["v2.0"]["due_date"] == milestones["v2.0"].due_on.date().isoformat()
    assert {"checkout-v2", "epic", "bug", "in progress"} <= {label.name for label in repo.get_labels()}
    status, _, data = gh.requester.requestJson("GET", "/orgs/acme/issue-types")
    assert status == 200 and all(name in data for name in ("Epic", "Feature", "Task", "Bug"))


def test_projects_v2_fields_and_items(sandbox: SandboxHandle, gh: github.Github) -> None:
    import json

    status, _, data = gh.requester.requestJson("GET", "/orgs/acme/projectsV2/1/fields")
    fields = {f["name"]: f for f in json.loads(data)}
    assert {"Status", "Iteration", "Estimate"} <= set(fields)
    ids = ",".join(str(fields[n]["id"]) for n in ("Status", "Iteration", "Estimate"))
    items: list[dict[str, object]] = []
    url: str | None = "/orgs/acme/projectsV2/1/items"
    params: dict[str, object] | None = {"fields": ids, "per_page": 50}
    while url:
        status, headers, data = gh.requester.requestJson("GET", url, parameters=params)
        assert status == 200
        items.extend(json.loads(data))
        nxt = headers.get("link", "")
        url = nxt.split(">", 1)[0].lstrip("<").split("/github/api/v3", 1)[1] if 'rel="next"' in nxt else None
        params = None
    truth = {i["key"]: i for i in sandbox.truth()["items"] if i["tracker"] == "github"}
    by_key = {}
    for item in items:
        content = item["content"]
        assert isinstance(content, dict)
        key = f"{content['repository_url'].split('/repos/')[1]}#{content['number']}"
        by_key[key] = {f["name"]: f["value"] for f in item["fields"]}  # type: ignore[union-attr]
    assert len(by_key) > 60
    for key, values in by_key.items():
        assert values["Estimate"] == truth[key]["estimate"]
        sprint = values["Iteration"]
        assert (sprint["title"]["raw"] if sprint else None) == truth[key]["sprint"]


def test_bad_or_missing_token_is_401(sandbox: SandboxHandle) -> None:
    with pytest.raises(github.BadCredentialsException):
        github_client(sandbox, token="wrong").get_repo("acme/web")
    import httpx

    response = httpx.get(f"{sandbox.github_url}/repos/acme/web/issues")
    assert response.status_code == 401
    assert response.json()["message"] == "Bad credentials"
    ok = httpx.get(f"{sandbox.github_url}/rate_limit", headers={"Authorization": "Bearer sandbox-token"})
    assert ok.status_code == 200 and ok.json()["resources"]["core"]["limit"] == 5000


def test_list_pulls_pages_filters_and_sorts_like_github(sandbox: SandboxHandle) -> None:
    gh = github_client(sandbox, per_page=3)
    repo = gh.get_repo("acme/mobile")
    in_issue_list = {i.number: i for i in repo.get_issues(state="all") if "pull_request" in i._rawData}
    pulls = list(repo.get_pulls(state="all"))
    assert sorted(p.number for p in pulls) == sorted(in_issue_list)
    pages = sandbox.stats()["by_endpoint"]["GET /repos/{owner}/{repo}/pulls"]["200"]
    assert pages == -(-len(pulls) // 3)  # Link-header paging, one request per page
    created = [p._rawData["created_at"] for p in pulls]
    assert created == sorted(created, reverse=True)  # sort=created defaults to desc
    for pull in pulls:
        issue = in_issue_list[pull.number]
        assert (pull.title, pull.state, pull.user.login) == (issue.title, issue.state, issue.user.login)
        assert pull._rawData["merged_at"] == issue._rawData["pull_request"]["merged_at"]
        assert pull.issue_url.endswith(f"/repos/acme/mobile/issues/{pull.number}")
        assert (pull.base.ref, pull.base.repo.full_name, pull.head.repo.full_name) == (
            "main",
            "acme/mobile",
            "acme/mobile",
        )

    open_ = {p.number for p in repo.get_pulls()}  # state=open by default
    assert open_ == {n for n, i in in_issue_list.items() if i.state == "open"}
    updated = [p._rawData["updated_at"] for p in repo.get_pulls(state="closed", sort="updated")]
    assert updated == sorted(updated)  # other sorts default to asc
    assert len(updated) == len(in_issue_list) - len(open_)

    one = pulls[0]
    assert [p.number for p in repo.get_pulls(state="all", head=f"acme:{one.head.ref}")] == [one.number]
    assert list(repo.get_pulls(state="all", base="release")) == []


def test_list_pulls_etag_and_validation(sandbox: SandboxHandle, gh: github.Github) -> None:
    path = "/repos/acme/web/pulls"
    status, headers, _ = gh.requester.requestJson("GET", path, parameters={"state": "all"})
    assert status == 200 and headers["etag"].startswith('W/"')
    status, _, _ = gh.requester.requestJson(
        "GET", path, parameters={"state": "all"}, headers={"If-None-Match": headers["etag"]}
    )
    assert status == 304
    sandbox.mutate(tracker="github", op="touch", key="acme/web#3")
    status, changed, _ = gh.requester.requestJson(
        "GET", path, parameters={"state": "all"}, headers={"If-None-Match": headers["etag"]}
    )
    assert status == 200 and changed["etag"] != headers["etag"]
    for bad in ({"state": "merged"}, {"sort": "comments"}, {"direction": "up"}):
        status, _, _ = gh.requester.requestJson("GET", path, parameters=bad)
        assert status == 422, bad
