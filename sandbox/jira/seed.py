"""Seeds for the Jira world: the "Checkout v2" demo (projects PAY and PLAT) and a scale generator.

Demo accounts (README "Credentials"): every person in `sandbox.demo.PEOPLE` with a Jira account
exists; `tpm@example.com` logs in with API token `sandbox-token` (Basic auth on Cloud, or the same
string as a Bearer personal access token on Data Center); the automation account
`crosstrack-bot@example.com` logs in with `sandbox-bot-token` and has time zone UTC (useful to test
that JQL dates are read in the *searching* account's zone).

Keys are deterministic: numbered per project from 1 in creation order, ids from 10000. Every key up
to `demo.GUARANTEED_NUMBERS` exists, is a plain issue and is never moved or deleted by the seed.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Any

from sandbox import demo
from sandbox.jira.model import EMPTY, STATUSES, Board, Issue, Sprint, User, Version

if TYPE_CHECKING:
    from sandbox.jira.world import JiraWorld

__all__ = ["BOT_EMAIL", "BOT_TOKEN", "cross_links_of", "seed_demo", "seed_scale"]

BOT_EMAIL = "crosstrack-bot@example.com"
BOT_TOKEN = "sandbox-bot-token"
BOT_ACCOUNT = "5b10ac8d82e05b22cc7dbeef"
DAY = 86_400_000
HOUR = 3_600_000
SPRINT_DAYS = 14
WEEKS = 12

STORY_TEMPLATES = (
    "Add {thing} to the {theme} flow",
    "Support {thing} in {theme}",
    "Show {thing} during {theme}",
    "Validate {thing} for {theme}",
    "Log {thing} from {theme}",
    "Migrate {thing} used by {theme}",
    "Expose {thing} through the {theme} API",
    "Handle {thing} failures in {theme}",
)
TASK_TEMPLATES = (
    "Write runbook for {theme}",
    "Load-test {theme} at 3x peak",
    "Add dashboards for {theme}",
    "Clean up feature flags in {theme}",
    "Document {thing} for {theme}",
    "Set alerts on {thing} in {theme}",
)
BUG_TEMPLATES = (
    "{Thing} is lost when {theme} times out",
    "Wrong currency shown in {theme}",
    "Duplicate {thing} after retry in {theme}",
    "{Theme} fails for cards issued outside the EU",
    "Race between {thing} and {theme} callbacks",
)
THINGS = (
    "idempotency keys",
    "customer receipts",
    "partial captures",
    "saved cards",
    "tax lines",
    "webhook retries",
    "audit events",
    "order totals",
    "error codes",
    "SCA exemptions",
    "refund reasons",
    "latency budgets",
)
CHILD_LABELS = ("backend", "frontend", "tech-debt", "security", "observability", "compliance")
OTHER_EPIC_LABELS = ("tech-debt", "reliability", "q4-ops")
HEAVY_HISTORY = ("PAY-2", "PLAT-4", "PAY-14")  # issues with > 100 histories (truncated changelog)


def _users(world: JiraWorld) -> None:
    for person in demo.PEOPLE:
        if person.jira_account_id is None:
            continue
        time_zone = world.config.jira_timezone if person.email == "tpm@example.com" else person.time_zone
        world.add_user(
            User(person.jira_account_id, person.email, person.name, time_zone),
            "sandbox-token" if person.email == "tpm@example.com" else None,
        )
    world.add_user(User(BOT_ACCOUNT, BOT_EMAIL, "crosstrack bot", "UTC"), BOT_TOKEN)


def _team_accounts(team: str) -> list[str]:
    return [p.jira_account_id for p in demo.PEOPLE if p.team == team and p.jira_account_id]


def _sprints(world: JiraWorld, project: str, board_id: int, end_ms: int, first_id: int) -> list[Sprint]:
    """Two-week sprints: closed ones over the 12 weeks, the current one active, one future."""
    world.boards[board_id] = Board(board_id, f"{project} board", project)
    current_start = end_ms - 5 * DAY
    starts = [current_start - SPRINT_DAYS * DAY * n for n in range(5, -2, -1)]  # 5 closed, active, future
    sprints = []
    for index, start in enumerate(starts):
        number = 7 + index
        if index < 5:
            state, complete = "closed", start + SPRINT_DAYS * DAY
        elif index == 5:
            state, complete = "active", None
        else:
            state, complete = "future", None
        sprint = Sprint(
            first_id + index,
            board_id,
            f"{project} Sprint {number}",
            state,
            start if state != "future" else None,
            start + SPRINT_DAYS * DAY if state != "future" else None,
            complete,
            goal=f"Sprint {number} of Checkout v2" if index >= 4 else "",
            sequence=first_id + index,
        )
        world.sprints[sprint.id] = sprint
        sprints.append(sprint)
    return sprints


def _date(world: JiraWorld, ms: int) -> str:
    from sandbox.jira.payloads import jira_time

    return (jira_time(ms, world.zone_name) or "")[:10]


def _title(rng: random.Random, templates: tuple[str, ...], theme: str) -> str:
    thing = rng.choice(THINGS)
    return rng.choice(templates).format(
        thing=thing, Thing=thing.capitalize(), theme=theme, Theme=theme.capitalize()
    )


def _lifecycle(
    world: JiraWorld,
    rng: random.Random,
    issue: Issue,
    end_ms: int,
    progress: float,
    assignees: list[str],
    sprints: list[Sprint],
) -> None:
    """Lay out an issue's history from creation to `end_ms`: assignment, estimate, status moves."""
    tpm = demo.PEOPLE[0].jira_account_id
    t = issue.created_ms
    span = max(end_ms - t, HOUR)
    assignee = rng.choice(assignees) if assignees else None
    if assignee and rng.random() < 0.85:
        t += rng.randrange(HOUR, max(span // 10, HOUR + 1))
        world.add_history(
            issue,
            tpm,
            t,
            [_item("assignee", None, assignee, None, world.users[assignee].display_name)],
        )
        issue.assignee = assignee
    if issue.story_points is not None:
        t += rng.randrange(HOUR // 2, HOUR * 6)
        world.add_history(
            issue,
            assignee or tpm,
            t,
            [_item("Story Points", None, None, None, str(issue.story_points), "customfield_10016")],
        )
    # how far it gets: 0 to do, 1 in progress, 2 in review, 3 done
    roll = rng.random()
    if roll < progress * 0.6:
        target = 3
    elif roll < progress * 0.8:
        target = 2
    elif roll < progress:
        target = 1
    else:
        target = 0
    order = ["To Do", "In Progress", "In Review", "Done"]
    current = 0
    remaining = end_ms - t
    for step in range(1, target + 1):
        t += rng.randrange(max(remaining // (target + 2), HOUR), max(remaining // (target + 1), HOUR + 1))
        t = min(t, end_ms - (target - step + 1) * HOUR)
        old, new = STATUSES[order[current]], STATUSES[order[step]]
        items = [_item("status", old.id, new.id, old.name, new.name)]
        if step == 3:
            resolution = "Won't Do" if rng.random() < 0.06 else "Done"
            items.append(
                _item("resolution", None, "10000" if resolution == "Done" else "10001", None, resolution)
            )
            issue.resolution = resolution
            issue.resolved_ms = t
        world.add_history(issue, issue.assignee or tpm, t, items)
        current = step
        # Occasionally the work bounces back from review before it is done.
        if step == 2 and target == 3 and rng.random() < 0.15:
            t += HOUR * rng.randrange(2, 30)
            world.add_history(
                issue,
                issue.assignee or tpm,
                t,
                [_item("status", new.id, STATUSES["In Progress"].id, new.name, "In Progress")],
            )
            t += HOUR * rng.randrange(2, 30)
            world.add_history(
                issue,
                issue.assignee or tpm,
                t,
                [_item("status", STATUSES["In Progress"].id, new.id, "In Progress", new.name)],
            )
    issue.status = order[current]
    # Sprint membership follows the work: done in a closed sprint, open work in the active one.
    if issue.issue_type.hierarchy_level == 0 and sprints:
        if current == 3 and issue.resolved_ms is not None:
            done_in = next(
                (
                    s
                    for s in sprints
                    if s.start_ms and s.end_ms and s.start_ms <= issue.resolved_ms < s.end_ms
                ),
                sprints[5],
            )
            issue.sprint_ids = [done_in.id]
        elif current > 0:
            issue.sprint_ids = [sprints[5].id]
        elif rng.random() < 0.4:
            issue.sprint_ids = [sprints[6].id]
    issue.updated_ms = max(t, issue.created_ms)


def _item(
    field: str, old: str | None, new: str | None, old_s: str | None, new_s: str | None, field_id: str = ""
) -> dict[str, Any]:
    return {
        "field": field,
        "fieldtype": "custom" if field_id.startswith("customfield_") else "jira",
        "fieldId": field_id or field,
        "from": old,
        "fromString": old_s,
        "to": new,
        "toString": new_s,
    }


def seed_demo(world: JiraWorld, rng: random.Random) -> None:
    from sandbox.jira.world import anchor_end_ms

    _users(world)
    end_ms = anchor_end_ms(world.config, world.ctx.clock.now())
    start_ms = end_ms - WEEKS * 7 * DAY
    teams = [t for t in demo.TEAMS if t.tracker == "jira"]
    tpm = demo.PEOPLE[0].jira_account_id or BOT_ACCOUNT
    for board_index, team in enumerate(teams):
        key = team.scope
        accounts = _team_accounts(team.slug) or [tpm]
        world.add_project(key, team.name, accounts[0], f"The {team.name} team's work.")
        versions: list[Version] = []
        for offset_weeks, released in ((-8, True), (-4, True), (2, False), (6, False)):
            due_ms = end_ms + offset_weeks * 7 * DAY
            name = f"{key} 2026.{len(versions) + 1}"
            versions.append(
                world.add_version(
                    key,
                    name,
                    _date(world, due_ms),
                    start_date=_date(world, due_ms - 28 * DAY),
                    released=released,
                    description=f"{team.name} release {len(versions) + 1}",
                )
            )
        sprints = _sprints(world, key, board_index + 1, end_ms, board_index * 10 + 1)
        themes = list(team.themes)
        epics: list[tuple[Issue, str, bool]] = []
        for index in range(5):
            in_program = index < demo.PROGRAM.epics_per_team
            theme = themes[index % len(themes)]
            created = start_ms + rng.randrange(0, 10 * DAY)
            title = (
                f"{theme.capitalize()} for Checkout v2" if in_program else f"{theme.capitalize()} hardening"
            )
            epic = world.new_issue(
                key,
                "Epic",
                title,
                created,
                reporter=tpm,
                labels=[demo.PROGRAM.label] if in_program else [OTHER_EPIC_LABELS[index % 3]],
                priority="High" if in_program else "Medium",
                description=f"Everything {team.name} needs for {theme} in the new checkout.",
                start_date=_date(world, created + 3 * DAY),
                due_date=_date(world, end_ms + rng.randrange(-14, 50) * DAY),
                fix_versions=[versions[2 + index % 2].id],
            )
            epics.append((epic, theme, in_program))
        for epic, theme, _in_program in epics:
            for _ in range(rng.randrange(9, 14)):
                roll = rng.random()
                type_name = "Story" if roll < 0.55 else "Task" if roll < 0.8 else "Bug"
                templates: tuple[str, ...] = {"Story": STORY_TEMPLATES, "Task": TASK_TEMPLATES}.get(
                    type_name, BUG_TEMPLATES
                )
                created = epic.created_ms + rng.randrange(DAY, 60 * DAY)
                child = world.new_issue(
                    key,
                    type_name,
                    _title(rng, templates, theme),
                    created,
                    reporter=rng.choice([*accounts, tpm]),
                    parent=epic,
                    labels=rng.sample(CHILD_LABELS, rng.randrange(0, 3)),
                    priority=rng.choice(["High", "Medium", "Medium", "Low"]),
                    story_points=rng.choice([1.0, 2.0, 3.0, 5.0, 8.0, None]) if type_name != "Bug" else None,
                    fix_versions=list(epic.fix_versions),
                    description=f"As part of {theme}, {type_name.lower()} work for {team.name}.",
                )
                progress = min(0.95, (end_ms - created) / (70 * DAY))
                _lifecycle(world, rng, child, end_ms, progress, accounts, sprints)
                if type_name == "Story" and rng.random() < 0.3:
                    for n in range(rng.randrange(1, 4)):
                        sub = world.new_issue(
                            key,
                            "Sub-task",
                            f"{['Backend', 'UI', 'Tests'][n]} for {child.summary[:60]}",
                            child.created_ms + rng.randrange(HOUR, 3 * DAY),
                            reporter=child.reporter,
                            parent=child,
                        )
                        _lifecycle(world, rng, sub, end_ms, progress, accounts, [])
            # The epic's status follows its children.
            done = sum(1 for c in epic.children if c.status == "Done")
            started = any(c.status != "To Do" for c in epic.children)
            _set_epic_status(world, epic, done == len(epic.children), started, tpm)
        for _ in range(4):
            created = start_ms + rng.randrange(0, 80 * DAY)
            bug = world.new_issue(
                key,
                "Bug",
                _title(rng, BUG_TEMPLATES, rng.choice(themes)),
                created,
                reporter=rng.choice(accounts),
                priority=rng.choice(["Highest", "High", "Medium"]),
                labels=["production"],
            )
            _lifecycle(world, rng, bug, end_ms, 0.7, accounts, sprints)
        # An initiative above the program epics (created last: keys <= 30 stay plain issues).
        initiative = world.new_issue(
            key,
            "Initiative",
            f"Checkout v2: {team.name}",
            start_ms,
            reporter=tpm,
            labels=[demo.PROGRAM.label],
            status="In Progress",
        )
        for epic, _, in_program in epics:
            if in_program:
                world.set_parent(epic, initiative)
        initiative.updated_ms = start_ms + DAY
    _links(world, rng, end_ms)
    _cross_tracker(world)
    _heavy_histories(world, rng)
    _comments(world, rng, end_ms)


def _set_epic_status(world: JiraWorld, epic: Issue, all_done: bool, started: bool, actor: str) -> None:
    if not started:
        return
    last = max((c.updated_ms for c in epic.children), default=epic.created_ms)
    first = min((h.created_ms for c in epic.children for h in c.histories), default=epic.created_ms)
    todo, progress, done = STATUSES["To Do"], STATUSES["In Progress"], STATUSES["Done"]
    world.add_history(
        epic,
        actor,
        max(first, epic.created_ms + HOUR),
        [_item("status", todo.id, progress.id, todo.name, progress.name)],
    )
    epic.status = "In Progress"
    if all_done:
        world.add_history(
            epic,
            actor,
            last + HOUR,
            [
                _item("status", progress.id, done.id, progress.name, done.name),
                _item("resolution", None, "10000", None, "Done"),
            ],
        )
        epic.status, epic.resolution, epic.resolved_ms = "Done", "Done", last + HOUR
    epic.updated_ms = max(epic.updated_ms, epic.histories[-1].created_ms)


def _links(world: JiraWorld, rng: random.Random, end_ms: int) -> None:
    """About 30 Jira issue links: blocks within and across PAY/PLAT, some relates and duplicates."""
    candidates = [i for i in world.issues.values() if i.issue_type.hierarchy_level == 0]
    pairs: set[tuple[int, int]] = set()
    plan = [("Blocks", 26), ("Relates", 5), ("Duplicate", 2)]
    for type_name, count in plan:
        made = 0
        while made < count:
            source, destination = rng.sample(candidates, 2)
            if (source.id, destination.id) in pairs or (destination.id, source.id) in pairs:
                continue
            if type_name == "Blocks" and made % 2 == 0 and source.project == destination.project:
                continue  # every other blocker crosses the teams
            pairs.add((source.id, destination.id))
            world.add_link(type_name, source, destination)
            at = max(source.created_ms, destination.created_ms) + rng.randrange(HOUR, 3 * DAY)
            at = min(at, end_ms - HOUR)
            lt = {"Blocks": ("blocks", "is blocked by"), "Relates": ("relates to", "relates to")}.get(
                type_name, ("duplicates", "is duplicated by")
            )
            for issue, other, text in ((source, destination, lt[0]), (destination, source, lt[1])):
                world.add_history(
                    issue,
                    demo.PEOPLE[0].jira_account_id,
                    at,
                    [
                        {
                            "field": "Link",
                            "fieldtype": "jira",
                            "from": None,
                            "fromString": None,
                            "to": other.key,
                            "toString": f"This issue {text} {other.key}",
                        }
                    ],
                )
                issue.histories.sort(key=lambda h: h.created_ms)
                issue.updated_ms = max(issue.updated_ms, at)
            made += 1


def _cross_tracker(world: JiraWorld) -> None:
    """The Jira side of `demo.CROSS_TRACKER_LINKS`: remote links and text references."""
    for link in demo.CROSS_TRACKER_LINKS:
        if "#" in link.source:
            continue
        issue = world.by_key[link.source]
        url = demo.github_html_url(link.target)
        if link.origin == "remote_link":
            relationship = "is blocked by" if link.relation == "blocked by" else "blocks"
            world.add_remote_link(
                issue,
                url,
                f"{link.target}",
                relationship,
                global_id=f"github:{link.target}",
                summary=f"GitHub issue {link.target}",
                application={"type": "com.github", "name": "GitHub"},
                status_resolved=False,
            )
        else:
            phrase = "Blocked by" if link.relation == "blocked by" else "Blocks"
            target = link.target if link.source.startswith("PAY") else url
            issue.description = f"{issue.description}\n\n{phrase} {target}."


def _heavy_histories(world: JiraWorld, rng: random.Random) -> None:
    """A few issues churned a lot (rank and description edits): their changelog needs paging."""
    for key in HEAVY_HISTORY:
        issue = world.by_key.get(key)
        if issue is None:
            continue
        t = issue.created_ms
        span = max(issue.updated_ms - t, DAY)
        extra = []
        for n in range(120):
            at = t + span * (n + 1) // 122
            field = "Rank" if n % 3 else "description"
            item = _item(field, "", "", "", "Ranked higher" if field == "Rank" else "", "customfield_10019")
            if field == "description":
                item = _item("description", None, None, None, f"Revision {n} of the plan", "description")
            extra.append((at, item))
        for at, item in extra:
            world.add_history(issue, issue.assignee or issue.reporter, at, [item])
        issue.histories.sort(key=lambda h: h.created_ms)
        issue.updated_ms = max(issue.updated_ms, issue.histories[-1].created_ms)


def _comments(world: JiraWorld, rng: random.Random, end_ms: int) -> None:
    issues = [i for i in world.issues.values() if i.status != "To Do"]
    for issue in rng.sample(issues, min(25, len(issues))):
        author = issue.assignee or issue.reporter or demo.PEOPLE[0].jira_account_id or BOT_ACCOUNT
        at = min(issue.updated_ms + HOUR, end_ms)
        world.add_comment(issue, author, rng.choice(COMMENTS), at)
        issue.updated_ms = at


COMMENTS = (
    "Waiting on the sandbox credentials from the PSP.",
    "Merged behind the checkout_v2 flag.",
    "QA found an edge case with 3-D Secure challenges; fixing.",
    "Moved to next sprint: blocked on the gateway schema.",
    "Demoed in the program review, looks good.",
)


def seed_scale(world: JiraWorld, items: int, rng: random.Random) -> None:
    """`items` issues over PAY and PLAT in 90 days: one epic per 50, a link per 100, little history.

    Built for speed and memory (500k issues in seconds): lists are shared empties until changed.
    """
    from sandbox.jira.world import anchor_end_ms

    _users(world)
    end_ms = anchor_end_ms(world.config, world.ctx.clock.now())
    start_ms = end_ms - 90 * DAY
    projects = ["PAY", "PLAT"]
    for index, key in enumerate(projects):
        world.add_project(key, key.title(), demo.PEOPLE[1 + index].jira_account_id or BOT_ACCOUNT)
        world.add_version(key, f"{key} 2026.1", _date(world, end_ms + 14 * DAY))
        _sprints(world, key, index + 1, end_ms, index * 10 + 1)
    accounts = [a for a in world.users if a != BOT_ACCOUNT]
    statuses = ["To Do", "In Progress", "In Review", "Done"]
    status_ids = {name: STATUSES[name].id for name in statuses}
    # One changelog item list per status, shared by every issue (items are never changed in place).
    shared_items = {
        name: [_item("status", status_ids["To Do"], status_ids[name], "To Do", name)] for name in statuses
    }
    tpm = demo.PEOPLE[0].jira_account_id
    epics: dict[str, Issue] = {}
    step = max(1, (end_ms - start_ms) // max(items, 1))
    randrange, random_ = rng.randrange, rng.random
    issue_ids = iter(range(10000, 10000 + items))
    new_issue = Issue
    store, by_key, numbers = world.issues, world.by_key, world.next_number
    for n in range(items):
        key = projects[n % 2]
        number = numbers[key]
        numbers[key] = number + 1
        created = start_ms + n * step
        if n % 50 < 2:
            type_name, parent, summary = "Epic", None, f"Epic {number} of {key}"
        else:
            type_name, parent, summary = (
                ("Story" if n % 3 else "Task"),
                epics.get(key),
                f"Item {number} of {key}",
            )
        status = statuses[randrange(4)]
        updated = created + randrange(0, 30 * DAY)
        if updated > end_ms:
            updated = end_ms - randrange(0, DAY)
        issue = new_issue(
            id=next(issue_ids),
            key=f"{key}-{number}",
            project=key,
            type_name=type_name,
            summary=summary,
            status=status,
            created_ms=created,
            updated_ms=updated,
            assignee=accounts[n % len(accounts)] if status != "To Do" else None,
            reporter=tpm,
            story_points=float(1 + n % 8) if type_name != "Epic" else None,
            labels=EMPTY,
            fix_versions=EMPTY,
            sprint_ids=EMPTY,
            histories=EMPTY,
            old_keys=EMPTY,
            comments=EMPTY,
            remote_links=EMPTY,
            link_ids=EMPTY,
            children=EMPTY,
        )
        if status == "Done":
            issue.resolution, issue.resolved_ms = "Done", updated
        if status != "To Do":
            world.add_history(issue, issue.assignee, updated, shared_items[status])
        store[issue.id] = issue
        by_key[issue.key] = issue
        if type_name == "Epic":
            epics[key] = issue
        elif parent is not None:
            issue.parent = parent
            parent.children = [*parent.children, issue]
        if n % 100 == 99 and random_() < 0.9:
            other = store[issue.id - 1 - randrange(min(n, 500))]
            world.add_link("Blocks", other, issue)


GITHUB_REF = re.compile(
    r"\b(blocked by|blocks|depends on)\s+(?:https://github\.com/([\w.-]+/[\w.-]+)/issues/(\d+)|([\w.-]+/[\w.-]+)#(\d+))",
    re.IGNORECASE,
)


def cross_links_of(world: JiraWorld) -> list[dict[str, Any]]:
    """Dependencies on GitHub issues this world carries, for `/_sandbox/truth`.

    Remote links whose `relationship` is "blocks"/"is blocked by" and whose URL is a GitHub issue;
    phrases "Blocked by acme/web#5", "Blocks https://github.com/acme/mobile/issues/7", "depends on
    ..." in descriptions. Normalized: for blocks, `from` blocks `to`.
    """
    links: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(blocker: str, blocked: str, origin: str) -> None:
        if (blocker, blocked) in seen:
            return
        seen.add((blocker, blocked))
        links.append({"from": blocker, "to": blocked, "type": "blocks", "origin": origin})

    url_re = re.compile(r"^https://github\.com/([\w.-]+/[\w.-]+)/issues/(\d+)$")
    for issue in world.issues.values():
        for remote in issue.remote_links:
            match = url_re.match(remote.url)
            if match is None or remote.relationship not in ("blocks", "is blocked by"):
                continue
            other = f"{match.group(1)}#{match.group(2)}"
            if remote.relationship == "blocks":
                add(issue.key, other, "remote_link")
            else:
                add(other, issue.key, "remote_link")
        if not issue.description:
            continue
        for match in GITHUB_REF.finditer(issue.description):
            phrase = match.group(1).lower()
            repo = match.group(2) or match.group(4)
            number = match.group(3) or match.group(5)
            other = f"{repo}#{number}"
            if phrase == "blocks":
                add(issue.key, other, "text_reference")
            else:
                add(other, issue.key, "text_reference")
    return links
