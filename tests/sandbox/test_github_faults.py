"""Fault injection on the GitHub side, seen through PyGithub and over plain HTTP."""

from __future__ import annotations

import json

import github
import httpx
import pytest

from sandbox.testing import SandboxHandle

AUTH = {"Authorization": "token sandbox-token"}


def test_secondary_rate_limit_refuses_until_retry_after_has_passed(
    sandbox: SandboxHandle, gh: github.Github
) -> None:
    sandbox.set_faults(rate_limit={"github": {"count": 1, "retry_after": 30, "status": 403}})
    with pytest.raises(github.GithubException) as first:
        gh.get_repo("acme/web")
    assert first.value.status == 403
    assert first.value.headers is not None and first.value.headers["retry-after"] == "30"
    assert "secondary rate limit" in str(first.value.data["message"])

    sandbox.advance_clock(10)  # too early: refused again, and the sandbox notes the early request
    with pytest.raises(github.GithubException) as early:
        gh.get_repo("acme/web")
    assert early.value.status == 403 and int(early.value.headers["retry-after"]) <= 20  # type: ignore[index]
    assert sandbox.faults()["_observed"]["early_requests"] == {"github": 1}

    sandbox.advance_clock(21)
    assert gh.get_repo("acme/web").full_name == "acme/web"
    statuses = [(e["route"], e["status"]) for e in sandbox.stats()["entries"]]
    assert statuses == [("/repos/{owner}/{repo}", 403)] * 2 + [("/repos/{owner}/{repo}", 200)]


def test_429_secondary_limit_and_primary_exhaustion(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(rate_limit={"github": {"count": 1, "retry_after": 5, "status": 429}})
    response = httpx.get(f"{sandbox.github_url}/repos/acme/web", headers=AUTH)
    assert response.status_code == 429 and response.headers["retry-after"] == "5"
    sandbox.clear_faults()

    sandbox.set_faults(primary_exhaust={"github": True})
    response = httpx.get(f"{sandbox.github_url}/repos/acme/web", headers=AUTH)
    assert response.status_code == 403
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) > 0
    assert "API rate limit exceeded" in response.json()["message"]
    # /rate_limit itself still answers (and says why)
    limits = httpx.get(f"{sandbox.github_url}/rate_limit", headers=AUTH).json()
    assert limits["resources"]["core"]["remaining"] == 0


def test_rate_limit_headers_count_down_on_every_answer(sandbox: SandboxHandle) -> None:
    with httpx.Client(headers=AUTH) as client:
        first = client.get(f"{sandbox.github_url}/repos/acme/web")
        second = client.get(f"{sandbox.github_url}/repos/acme/web/labels")
    for header in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset"):
        assert header in second.headers
    assert int(second.headers["x-ratelimit-remaining"]) == int(first.headers["x-ratelimit-remaining"]) - 1
    assert second.headers["x-ratelimit-resource"] == "core"


def test_server_errors_then_recovery(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(errors={"github": {"count": 2, "status": 502}})
    with httpx.Client(headers=AUTH) as client:
        codes = [client.get(f"{sandbox.github_url}/repos/acme/web").status_code for _ in range(3)]
    assert codes == [502, 502, 200]


def test_truncated_body_is_cut_in_half(sandbox: SandboxHandle) -> None:
    url = f"{sandbox.github_url}/repos/acme/web/issues?state=all&per_page=50"
    whole = httpx.get(url, headers=AUTH)
    sandbox.set_faults(truncate={"github": 1})
    cut = httpx.get(url, headers=AUTH)
    assert cut.status_code == 200
    assert cut.content == whole.content[: len(whole.content) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert httpx.get(url, headers=AUTH).content == whole.content  # only the next n bodies


def test_latency_fault_slows_answers(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(latency_ms={"github": 50})
    entries_before = sandbox.stats()["last_seq"]
    response = httpx.get(f"{sandbox.github_url}/repos/acme/web", headers=AUTH)
    assert response.status_code == 200
    assert sandbox.faults()["latency_ms"] == {"github": 50}
    assert sandbox.stats(since=entries_before)["entries"][0]["status"] == 200


def _scan(sandbox: SandboxHandle, client: httpx.Client, direction: str) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    url: str | None = f"{sandbox.github_url}/repos/acme/web/issues"
    params: dict[str, str | int] | None = {
        "state": "all",
        "sort": "updated",
        "direction": direction,
        "per_page": 10,
    }
    while url:
        response = client.get(url, params=params)
        params = None
        pages += 1
        seen.extend(f"acme/web#{i['number']}" for i in response.json())
        url = response.links.get("next", {}).get("url")
    return seen, pages


def _live(sandbox: SandboxHandle) -> set[str]:
    return {i["key"] for i in sandbox.truth()["items"] if i["scope"] == "acme/web"} | {
        f"acme/web#{n}"
        for n, it in sandbox.app.state.worlds["github"].repos["acme/web"].issues.items()
        if it.live and it.is_pr
    }


def test_scan_mutation_makes_ascending_page_scans_lose_items(sandbox: SandboxHandle) -> None:
    """Page-number paging over `sort=updated` is not stable, as on github.com: with `direction=asc`
    an item touched on an earlier page moves to the end and the item after the page boundary is
    skipped (and it was not touched, so no `since` catch-up finds it)."""
    sandbox.set_faults(scan_mutation={"github": 3})
    with httpx.Client(headers=AUTH) as client:
        seen, _ = _scan(sandbox, client, "asc")
    assert set(seen) < _live(sandbox)


def test_scan_mutation_desc_scan_plus_since_catch_up_loses_nothing(sandbox: SandboxHandle) -> None:
    """The rule that holds (PRODUCT §4.2): scan `direction=desc`, then re-list with `since` = the
    server time the scan started. Touched items move to the front (duplicates, never skips) and the
    catch-up returns every item touched during the scan."""
    from email.utils import parsedate_to_datetime

    with httpx.Client(headers=AUTH) as client:
        started = parsedate_to_datetime(client.get(f"{sandbox.github_url}/rate_limit").headers["date"])
        sandbox.set_faults(scan_mutation={"github": 3})
        seen, pages = _scan(sandbox, client, "desc")
        sandbox.clear_faults()
        again = client.get(
            f"{sandbox.github_url}/repos/acme/web/issues",
            params={
                "state": "all",
                "sort": "updated",
                "per_page": 100,
                "since": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        ).json()
    touched = {f"acme/web#{i['number']}" for i in again}
    assert len(touched) >= 3 * (pages - 1)  # the fault really moved items during the scan
    assert len(seen) > len(set(seen))  # desc paging shows some items twice...
    assert set(seen) | touched == _live(sandbox)  # ...and together with the catch-up misses none
