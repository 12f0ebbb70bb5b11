"""GitHub REST and webhook JSON shapes, built from the world's state.

Shapes follow the official description (shared/reference/github/rest-api.openapi.json, from
github/rest-api-description) and the example webhook payloads (@octokit/webhooks-examples).
Timestamps are ISO 8601 UTC with second precision and a ``Z``, as github.com sends them.
Issue JSON is the hot path (every list page, cold on a first sync): it is written as text from
pre-encoded pieces (users, labels, milestones and types are encoded once each) instead of building
and serializing a dict per issue, which is about five times faster.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from sandbox.github.world import GitHubWorld, Issue, IssueType, Label, Milestone, Repo

HTML = "https://github.com"


def ts(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return f"{moment.isoformat()[:19]}Z"  # several times faster than strftime


def node_id(prefix: str, ident: int) -> str:
    # Opaque global ids in the style of github.com's newer ones ("I_kwDO..."); clients never parse them.
    return f"{prefix}kwDO{ident:X}"


def user(api: str, login: str, ident: int, kind: str = "User") -> dict[str, Any]:
    base = f"{api}/users/{login}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id("U_" if kind == "User" else "O_", ident),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{ident}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{HTML}/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


def label(api: str, repo: Repo, lab: Label) -> dict[str, Any]:
    return {
        "id": lab.id,
        "node_id": node_id("LA_", lab.id),
        "url": f"{api}/repos/{repo.full_name}/labels/{lab.name.replace(' ', '%20')}",
        "name": lab.name,
        "color": lab.color,
        "default": lab.default,
        "description": lab.description,
    }


def milestone(world: GitHubWorld, repo: Repo, ms: Milestone) -> dict[str, Any]:
    api = world.api
    url = f"{api}/repos/{repo.full_name}/milestones/{ms.number}"
    open_count, closed_count = world.milestone_counts(repo, ms)
    return {
        "url": url,
        "html_url": f"{HTML}/{repo.full_name}/milestone/{ms.number}",
        "labels_url": f"{url}/labels",
        "id": ms.id,
        "node_id": node_id("MI_", ms.id),
        "number": ms.number,
        "state": ms.state,
        "title": ms.title,
        "description": ms.description,
        "creator": world.user_json(ms.creator),
        "open_issues": open_count,
        "closed_issues": closed_count,
        "created_at": ts(ms.created_at),
        "updated_at": ts(ms.updated_at),
        "closed_at": ts(ms.closed_at),
        "due_on": ts(ms.due_on),
    }


def issue_type(t: IssueType) -> dict[str, Any]:
    return {
        "id": t.id,
        "node_id": node_id("IT_", t.id),
        "name": t.name,
        "description": t.description,
        "color": t.color,
        "created_at": ts(t.created_at),
        "updated_at": ts(t.created_at),
        "is_enabled": True,
    }


def reactions(url: str) -> dict[str, Any]:
    return {
        "url": f"{url}/reactions",
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "hooray": 0,
        "confused": 0,
        "heart": 0,
        "rocket": 0,
        "eyes": 0,
    }


def _t(moment: datetime | None) -> str:
    return "null" if moment is None else f'"{ts(moment)}"'


def _s(text: str | None) -> str:
    return "null" if text is None else orjson.dumps(text).decode()


def issue_json(world: GitHubWorld, it: Issue) -> bytes:
    """The issue object of GET /repos/{owner}/{repo}/issues[/{n}] (pull requests included), as bytes.

    Key order and content follow github.com. ``state_reason`` is left out when null: github.com
    sends null for open issues, but the official description's enum has no null.
    """
    api = world.api
    repo = it.repo
    full = repo.full_name
    repo_url = f"{api}/repos/{full}"
    url = f"{repo_url}/issues/{it.number}"
    html_kind = "pull" if it.is_pr else "issues"
    assignees = [world.user_fragment(login) for login in it.assignees]
    labels = ",".join(world.label_fragment(repo, name) for name in it.labels)
    milestone = world.milestone_fragment(repo, it.milestone) if it.milestone else "null"
    type_ = world.type_fragment(it.type) if it.type else "null"
    closed_by = world.user_fragment(it.closed_by) if it.closed_by and it.state == "closed" else "null"
    state_reason = f',"state_reason":"{it.state_reason}"' if it.state_reason is not None else ""
    node = f"{'PR_' if it.is_pr else 'I_'}kwDO{it.id:X}"
    text = (
        f'{{"url":"{url}","repository_url":"{repo_url}","labels_url":"{url}/labels{{/name}}",'
        f'"comments_url":"{url}/comments","events_url":"{url}/events",'
        f'"html_url":"{HTML}/{full}/{html_kind}/{it.number}","id":{it.id},"node_id":"{node}",'
        f'"number":{it.number},"title":{_s(it.title)},"user":{world.user_fragment(it.user)},'
        f'"labels":[{labels}],"state":"{it.state}","locked":false,'
        f'"assignee":{assignees[0] if assignees else "null"},"assignees":[{",".join(assignees)}],'
        f'"milestone":{milestone},"comments":{len(it.comments)},"created_at":{_t(it.created_at)},'
        f'"updated_at":{_t(it.updated_at)},"closed_at":{_t(it.closed_at)},"author_association":"MEMBER",'
        f'"type":{type_},"active_lock_reason":null,"body":{_s(it.body)},"closed_by":{closed_by},'
        f'"reactions":{{"url":"{url}/reactions","total_count":0,"+1":0,"-1":0,"laugh":0,"hooray":0,'
        f'"confused":0,"heart":0,"rocket":0,"eyes":0}},"timeline_url":"{url}/timeline",'
        f'"performed_via_github_app":null{state_reason}'
    )
    if it.is_pr:
        pr_html = f"{HTML}/{full}/pull/{it.number}"
        text += (
            f',"draft":false,"pull_request":{{"url":"{repo_url}/pulls/{it.number}","html_url":"{pr_html}",'
            f'"diff_url":"{pr_html}.diff","patch_url":"{pr_html}.patch","merged_at":{_t(it.merged_at)}}}}}'
        )
        return text.encode()
    total, completed = world.sub_issue_counts(it)
    open_blockers, open_blocking = world.open_dependency_counts(it)
    percent = (completed * 100 // total) if total else 0
    text += (
        f',"sub_issues_summary":{{"total":{total},"completed":{completed},"percent_completed":{percent}}},'
        f'"issue_dependencies_summary":{{"blocked_by":{open_blockers},"blocking":{open_blocking},'
        f'"total_blocked_by":{len(it.blocked_by)},"total_blocking":{len(it.blocking)}}}'
    )
    if it.parent is not None:
        parent = world.issues_by_id[it.parent]
        text += f',"parent_issue_url":"{api}/repos/{parent.repo.full_name}/issues/{parent.number}"'
    return (text + "}").encode()


BASE_BRANCH = "main"


def pull_head_ref(it: Issue) -> str:
    """The branch a pull request comes from (the sandbox models no git: one branch per PR)."""
    return f"change-{it.number}"


def _sha(kind: str, it: Issue) -> str:
    return hashlib.sha1(f"{kind}:{it.id}".encode(), usedforsecurity=False).hexdigest()


def pull_json(world: GitHubWorld, it: Issue) -> bytes:
    """A pull request as GET /repos/{owner}/{repo}/pulls lists it (`pull-request-simple`)."""
    api = world.api
    repo = it.repo
    full = repo.full_name
    repo_url = f"{api}/repos/{full}"
    url = f"{repo_url}/pulls/{it.number}"
    issue_url = f"{repo_url}/issues/{it.number}"
    html = f"{HTML}/{full}/pull/{it.number}"
    head_sha = _sha("head", it)
    merge_sha = _sha("merge", it) if it.merged_at is not None else None
    assignees = [world.user_fragment(login) for login in it.assignees]
    labels = ",".join(world.label_fragment(repo, name) for name in it.labels)
    milestone = world.milestone_fragment(repo, it.milestone) if it.milestone else "null"
    owner = world.org_owner_fragment(repo.owner)
    repo_json = world.repo_bytes(repo).decode()
    head = pull_head_ref(it)

    def side(label: str, ref: str, sha: str) -> str:
        return f'{{"label":"{repo.owner}:{label}","ref":"{ref}","sha":"{sha}","user":{owner},"repo":{repo_json}}}'

    def link(href: str) -> str:
        return f'{{"href":"{href}"}}'

    return (
        f'{{"url":"{url}","id":{it.id},"node_id":"{node_id("PR_", it.id)}","html_url":"{html}",'
        f'"diff_url":"{html}.diff","patch_url":"{html}.patch","issue_url":"{issue_url}",'
        f'"number":{it.number},"state":"{it.state}","locked":false,"title":{_s(it.title)},'
        f'"user":{world.user_fragment(it.user)},"body":{_s(it.body)},"labels":[{labels}],'
        f'"milestone":{milestone},"active_lock_reason":null,"created_at":{_t(it.created_at)},'
        f'"updated_at":{_t(it.updated_at)},"closed_at":{_t(it.closed_at)},"merged_at":{_t(it.merged_at)},'
        f'"merge_commit_sha":{_s(merge_sha)},"assignee":{assignees[0] if assignees else "null"},'
        f'"assignees":[{",".join(assignees)}],"requested_reviewers":[],"requested_teams":[],'
        f'"commits_url":"{url}/commits","review_comments_url":"{url}/comments",'
        f'"review_comment_url":"{repo_url}/pulls/comments{{/number}}","comments_url":"{issue_url}/comments",'
        f'"statuses_url":"{repo_url}/statuses/{head_sha}",'
        f'"head":{side(head, head, head_sha)},"base":{side(BASE_BRANCH, BASE_BRANCH, _sha("base", it))},'
        f'"_links":{{"self":{link(url)},"html":{link(html)},"issue":{link(issue_url)},'
        f'"comments":{link(issue_url + "/comments")},"review_comments":{link(url + "/comments")},'
        f'"review_comment":{link(repo_url + "/pulls/comments{/number}")},"commits":{link(url + "/commits")},'
        f'"statuses":{link(f"{repo_url}/statuses/{head_sha}")}}},'
        f'"author_association":"MEMBER","auto_merge":null,"draft":false}}'
    ).encode()


def repository(world: GitHubWorld, repo: Repo) -> dict[str, Any]:
    api = world.api
    url = f"{api}/repos/{repo.full_name}"
    html = f"{HTML}/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": node_id("R_", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": True,
        "owner": world.org_owner_json(repo.owner),
        "html_url": html,
        "description": repo.description,
        "fork": False,
        "url": url,
        "forks_url": f"{url}/forks",
        "keys_url": f"{url}/keys{{/key_id}}",
        "collaborators_url": f"{url}/collaborators{{/collaborator}}",
        "teams_url": f"{url}/teams",
        "hooks_url": f"{url}/hooks",
        "issue_events_url": f"{url}/issues/events{{/number}}",
        "events_url": f"{url}/events",
        "assignees_url": f"{url}/assignees{{/user}}",
        "branches_url": f"{url}/branches{{/branch}}",
        "tags_url": f"{url}/tags",
        "blobs_url": f"{url}/git/blobs{{/sha}}",
        "git_tags_url": f"{url}/git/tags{{/sha}}",
        "git_refs_url": f"{url}/git/refs{{/sha}}",
        "trees_url": f"{url}/git/trees{{/sha}}",
        "statuses_url": f"{url}/statuses/{{sha}}",
        "languages_url": f"{url}/languages",
        "stargazers_url": f"{url}/stargazers",
        "contributors_url": f"{url}/contributors",
        "subscribers_url": f"{url}/subscribers",
        "subscription_url": f"{url}/subscription",
        "commits_url": f"{url}/commits{{/sha}}",
        "git_commits_url": f"{url}/git/commits{{/sha}}",
        "comments_url": f"{url}/comments{{/number}}",
        "issue_comment_url": f"{url}/issues/comments{{/number}}",
        "contents_url": f"{url}/contents/{{+path}}",
        "compare_url": f"{url}/compare/{{base}}...{{head}}",
        "merges_url": f"{url}/merges",
        "archive_url": f"{url}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{url}/downloads",
        "issues_url": f"{url}/issues{{/number}}",
        "pulls_url": f"{url}/pulls{{/number}}",
        "milestones_url": f"{url}/milestones{{/number}}",
        "notifications_url": f"{url}/notifications{{?since,all,participating}}",
        "labels_url": f"{url}/labels{{/name}}",
        "releases_url": f"{url}/releases{{/id}}",
        "deployments_url": f"{url}/deployments",
        "created_at": ts(repo.created_at),
        "updated_at": ts(repo.updated_at),
        "pushed_at": ts(repo.updated_at),
        "git_url": f"git://github.com/{repo.full_name}.git",
        "ssh_url": f"git@github.com:{repo.full_name}.git",
        "clone_url": f"{html}.git",
        "svn_url": html,
        "homepage": None,
        "size": 1024,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": "TypeScript",
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": repo.open_count,
        "license": None,
        "allow_forking": False,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private",
        "forks": 0,
        "open_issues": repo.open_count,
        "watchers": 0,
        "default_branch": "main",
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    }


def organization(world: GitHubWorld, org: str) -> dict[str, Any]:
    api = world.api
    url = f"{api}/orgs/{org}"
    ident = world.org_id(org)
    return {
        "login": org,
        "id": ident,
        "node_id": node_id("O_", ident),
        "url": url,
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events",
        "hooks_url": f"{url}/hooks",
        "issues_url": f"{url}/issues",
        "members_url": f"{url}/members{{/member}}",
        "public_members_url": f"{url}/public_members{{/member}}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{ident}?v=4",
        "description": "Acme Corp",
    }


def comment(world: GitHubWorld, it: Issue, c: Any) -> dict[str, Any]:
    api = world.api
    repo_url = f"{api}/repos/{it.repo.full_name}"
    url = f"{repo_url}/issues/comments/{c.id}"
    return {
        "id": c.id,
        "node_id": node_id("IC_", c.id),
        "url": url,
        "html_url": f"{HTML}/{it.repo.full_name}/issues/{it.number}#issuecomment-{c.id}",
        "body": c.body,
        "user": world.user_json(c.user),
        "created_at": ts(c.created_at),
        "updated_at": ts(c.created_at),
        "issue_url": f"{repo_url}/issues/{it.number}",
        "author_association": "MEMBER",
        "performed_via_github_app": None,
        "reactions": reactions(url),
    }


def hook(world: GitHubWorld, target: Any, scope_path: str, last: Any | None) -> dict[str, Any]:
    url = f"{world.api}/{scope_path}/hooks/{target.id}"
    return {
        "type": "Repository" if scope_path.startswith("repos/") else "Organization",
        "id": target.id,
        "name": "web",
        "active": target.active,
        "events": target.events or ["*"],
        "config": {"url": target.url, "content_type": "json", "insecure_ssl": "0", "secret": "********"},
        "updated_at": ts(target.updated_at),
        "created_at": ts(target.created_at),
        "url": url,
        "test_url": f"{url}/test",
        "ping_url": f"{url}/pings",
        "deliveries_url": f"{url}/deliveries",
        "last_response": {
            "code": last.status_code if last else None,
            "status": ("active" if last.status == "OK" else "failed") if last else "unused",
            "message": last.status if last else None,
        },
    }


def delivery(d: Any, repository_id: int | None) -> dict[str, Any]:
    return {
        "id": d.id,
        "guid": d.guid,
        "delivered_at": ts(d.delivered_at or datetime.now(UTC)),
        "redelivery": d.redelivery,
        "duration": d.duration,
        "status": d.status,
        "status_code": d.status_code,
        "event": d.event,
        "action": d.action,
        "installation_id": None,
        "repository_id": repository_id,
    }


def fragment(data: Any) -> str:
    """Pre-encoded JSON text of a shared sub-object (a user, label, milestone, type)."""
    return orjson.dumps(data).decode()
