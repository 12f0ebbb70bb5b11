"""Seeds for the GitHub world: the demo organization (acme) and the scale generator.

Deterministic: a ``random.Random`` seeded from the config; all timestamps are laid out back from
the anchor date (midnight UTC), so nothing is in the future. Issues #1..#30 of every repository
are issues (never pull requests), never deleted or transferred (demo.GUARANTEED_NUMBERS).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sandbox import demo
from sandbox.github.world import IssueType, Milestone, ProjectField, project_status

if TYPE_CHECKING:
    from sandbox.core import SandboxConfig
    from sandbox.github.world import GitHubWorld, Issue, Repo

HISTORY_DAYS = 84  # 12 weeks of history
ITERATION_DAYS = 14

LABELS = [
    ("checkout-v2", "5319e7", "Checkout v2 program"),
    ("epic", "3e4b9e", "Epic: a large body of work"),
    ("bug", "d73a4a", "Something isn't working"),
    ("in progress", "fbca04", "Someone is on it"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("tech-debt", "c5def5", "Pay it back"),
    ("accessibility", "0e8a16", "a11y"),
    ("performance", "f9d0c4", "Faster, smaller"),
    ("growth", "bfdadc", "Growth experiments (outside the program)"),
]

TYPES = [
    ("Epic", "A large body of work, broken into sub-issues", "purple"),
    ("Feature", "A request, idea, or new functionality", "blue"),
    ("Task", "A specific piece of work", "yellow"),
    ("Bug", "An unexpected problem or behavior", "red"),
]

VERBS = [
    "Implement",
    "Add",
    "Wire up",
    "Refactor",
    "Harden",
    "Instrument",
    "Polish",
    "Document",
    "Migrate",
    "Test",
]
OBJECTS = [
    "validation for {t}",
    "{t} error states",
    "analytics events for {t}",
    "{t} loading skeleton",
    "retry logic in {t}",
    "{t} feature flag",
    "end-to-end tests for {t}",
    "{t} copy and translations",
    "{t} API client",
    "telemetry dashboards for {t}",
    "{t} edge cases",
    "{t} rollout plan",
]
BUGS = [
    "{t} crashes when the session expires",
    "{t} shows a blank state on slow networks",
    "Double submit in {t}",
    "{t} ignores the locale's decimal separator",
    "Focus is lost after closing {t}",
]


def build(world: GitHubWorld, config: SandboxConfig) -> None:
    for i, (name, description, color) in enumerate(TYPES):
        world.types[name] = IssueType(1_000 + i, name, description, color, datetime(2024, 9, 1, tzinfo=UTC))
    if config.seed == "scale":
        build_scale(world, config)
    else:
        build_demo(world, config)


def _anchor(config: SandboxConfig) -> datetime:
    d = config.anchor_date()
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _setup_repo(world: GitHubWorld, team: demo.Team, start: datetime) -> Repo:
    owner, name = team.scope.split("/")
    repo = world.add_repo(
        owner, name, f"{team.name} team: {', '.join(team.themes)}", start - timedelta(days=400)
    )
    for label_name, color, description in LABELS:
        world.ensure_label(repo, label_name, color, description)
    return repo


def _add_milestones(world: GitHubWorld, repo: Repo, anchor: datetime, rng: random.Random) -> list[int]:
    plan = [
        ("v2.0-beta", "Checkout v2 beta", -21, True),
        ("v2.0", "Checkout v2 general availability", 21, False),
        ("v2.1", "Follow-ups after GA", 56, False),
        ("Growth Q3", "Growth experiments", 35, False),
    ]
    numbers = []
    for i, (title, description, due_offset, closed) in enumerate(plan, start=1):
        created = anchor - timedelta(days=HISTORY_DAYS + 5 - i)
        due = anchor + timedelta(days=due_offset, hours=7)
        ms = Milestone(
            id=world.new_id(),
            number=i,
            title=title,
            description=description,
            state="closed" if closed else "open",
            due_on=due,
            created_at=created,
            updated_at=due - timedelta(days=1) if closed else created,
            closed_at=due - timedelta(days=1) if closed else None,
            creator="tpm-acme",
        )
        repo.milestones[i] = ms
        numbers.append(i)
    return numbers


def _iterations(anchor: datetime) -> list[dict[str, object]]:
    first = (anchor - timedelta(days=HISTORY_DAYS)).date()
    out = []
    for i in range(8):
        start = first + timedelta(days=i * ITERATION_DAYS)
        out.append(
            {
                "id": f"it{i + 1:02d}",
                "title": f"Iteration {i + 1}",
                "start_date": start.isoformat(),
                "duration": ITERATION_DAYS,
            }
        )
    return out


def _iteration_for(iterations: list[dict[str, object]], moment: datetime) -> str:
    chosen = str(iterations[0]["title"])
    for it in iterations:
        if str(it["start_date"]) <= moment.date().isoformat():
            chosen = str(it["title"])
    return chosen


def _close(world: GitHubWorld, it: Issue, when: datetime, reason: str = "completed") -> None:
    it.state, it.state_reason, it.closed_at, it.closed_by = "closed", reason, when, "tpm-acme"


def _history(it: Issue, stamps: list[tuple[datetime, str, str, str, str | None]]) -> None:
    for at, frm, to, from_cat, to_cat in stamps:
        it.history.append(
            {
                "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "from": frm,
                "to": to,
                "from_category": from_cat,
                "to_category": to_cat,
            }
        )


def build_demo(world: GitHubWorld, config: SandboxConfig) -> None:
    rng = random.Random(config.rng_seed * 7919 + 1)
    anchor = _anchor(config)
    start = anchor - timedelta(days=HISTORY_DAYS)
    iterations = _iterations(anchor)
    world.project_fields = [
        ProjectField(1001, "Title", "title"),
        ProjectField(
            1002,
            "Status",
            "single_select",
            options=[
                {"id": "f75ad846", "name": "Todo", "color": "GRAY"},
                {"id": "47fc9ee4", "name": "In Progress", "color": "YELLOW"},
                {"id": "98236657", "name": "Done", "color": "GREEN"},
            ],
        ),
        ProjectField(1003, "Iteration", "iteration", iterations=iterations),
        ProjectField(1004, "Estimate", "number"),
    ]
    cross_sources = {link.source: link for link in demo.CROSS_TRACKER_LINKS}
    for team in demo.TEAMS:
        if team.tracker != "github":
            continue
        repo = _setup_repo(world, team, start)
        _add_milestones(world, repo, anchor, rng)
        people = [p.github_login for p in demo.team_people(team.slug) if p.github_login]
        _demo_repo(world, repo, team, people, anchor, rng, iterations, cross_sources)
    _demo_dependencies(world, rng)
    _demo_pull_requests(world, anchor, rng)
    world.finish_indexes()


def _demo_repo(
    world: GitHubWorld,
    repo: Repo,
    team: demo.Team,
    people: list[str],
    anchor: datetime,
    rng: random.Random,
    iterations: list[dict[str, object]],
    cross_sources: dict[str, demo.CrossLink],
) -> None:
    """~3 program epics with 2-level sub-issues, then one non-program epic and loose bugs."""
    start = anchor - timedelta(days=HISTORY_DAYS)
    themes = list(team.themes)
    program_epics = themes[: demo.PROGRAM.epics_per_team]
    plan: list[tuple[str, bool]] = [(t, True) for t in program_epics] + [(themes[-1] + " experiments", False)]
    epics: list[tuple[Issue, bool]] = []
    # #1..#4 are the epics, so children follow and numbers stay stable.
    for theme, in_program in plan:
        created = start + timedelta(days=rng.randint(0, 6), hours=rng.randint(9, 17))
        labels = ["epic", "checkout-v2"] if in_program else ["epic", "growth"]
        epic = world.add_issue(
            repo,
            f"{theme[0].upper()}{theme[1:]} for Checkout v2"
            if in_program
            else f"{theme[0].upper()}{theme[1:]}",
            body=f"Epic: {theme}. Owner: @{people[0]}. Tracks the work of the {team.name} team.",
            user="tpm-acme",
            created_at=created,
            labels=labels,
            assignees=[people[0]],
            milestone=2 if in_program else 4,
            type="Epic",
        )
        _history(epic, [(created, "", "open", "", "in_progress")])
        epic.history[0]["from"] = None
        epic.history[0]["from_category"] = None
        epics.append((epic, in_program))
    # Children round-robin over the epics so the low numbers spread across all of them.
    children_per_epic = [rng.randint(9, 12) for _ in epics]
    pending = [(i, n) for i, n in enumerate(children_per_epic)]
    made: dict[int, list[Issue]] = {i: [] for i in range(len(epics))}
    while any(n > 0 for _, n in pending):
        for idx, (epic_index, remaining) in enumerate(pending):
            if remaining <= 0:
                continue
            pending[idx] = (epic_index, remaining - 1)
            epic, in_program = epics[epic_index]
            theme = plan[epic_index][0]
            child = _demo_child(world, repo, epic, theme, in_program, people, anchor, rng, iterations)
            made[epic_index].append(child)
    # Tasks under some features (a second level of sub-issues).
    for epic_index, kids in made.items():
        epic, in_program = epics[epic_index]
        for feature in kids[:2]:
            if feature.type != "Feature":
                continue
            for _ in range(rng.randint(1, 2)):
                task = _demo_child(
                    world, repo, feature, plan[epic_index][0], in_program, people, anchor, rng, iterations
                )
                task.type = "Task"
    # Loose bugs outside any epic.
    for _ in range(rng.randint(4, 6)):
        created = start + timedelta(days=rng.randint(10, HISTORY_DAYS - 3), hours=rng.randint(0, 23))
        it = world.add_issue(
            repo,
            rng.choice(BUGS).format(t=rng.choice(themes)),
            body="Steps to reproduce are in the linked support ticket.",
            user=rng.choice(people),
            created_at=created,
            labels=["bug"],
            type="Bug",
        )
        _settle(world, it, anchor, rng, people)
    # Cross-tracker text references, as the demo says (sources in this repository).
    for key, link in cross_sources.items():
        if not key.startswith(repo.full_name + "#"):
            continue
        it = repo.issues[int(key.split("#")[1])]
        target = link.target
        if rng.random() < 0.5 and "#" not in target:
            target = demo.jira_browse_url(target)
        it.body = (it.body or "") + f"\n\n{link.relation.capitalize()} {target}."
    # Epic progress follows their children.
    for epic, _ in epics:
        kids = [world.issues_by_id[c] for c in epic.children]
        if kids and all(k.state == "closed" for k in kids):
            when = max(k.closed_at or k.updated_at for k in kids) + timedelta(hours=2)
            _close(world, epic, when)
            _history(epic, [(when, "open", "closed", "in_progress", "done")])
            epic.updated_at = max(epic.updated_at, when)
        elif kids:
            epic.updated_at = max([epic.updated_at] + [k.updated_at for k in kids])
        if epic.labels[-1] == "checkout-v2":
            world.set_project_fields(
                epic, {"status": project_status(epic), "iteration": None, "estimate": None}
            )


def _demo_child(
    world: GitHubWorld,
    repo: Repo,
    parent: Issue,
    theme: str,
    in_program: bool,
    people: list[str],
    anchor: datetime,
    rng: random.Random,
    iterations: list[dict[str, object]],
) -> Issue:
    start = anchor - timedelta(days=HISTORY_DAYS)
    created = max(
        parent.created_at, start + timedelta(days=rng.randint(1, HISTORY_DAYS - 10), hours=rng.randint(0, 23))
    )
    roll = rng.random()
    type_ = "Bug" if roll < 0.15 else "Feature" if roll < 0.55 else "Task"
    title = (
        rng.choice(BUGS).format(t=theme)
        if type_ == "Bug"
        else f"{rng.choice(VERBS)} {rng.choice(OBJECTS).format(t=theme)}"
    )
    labels = ["bug"] if type_ == "Bug" else []
    if rng.random() < 0.2:
        labels.append(rng.choice(["accessibility", "performance", "tech-debt", "enhancement"]))
    it = world.add_issue(
        repo,
        title,
        body=f"Part of #{parent.number}.",
        user=rng.choice([*people, "tpm-acme"]),
        created_at=created,
        labels=labels,
        milestone=parent.milestone if rng.random() < 0.8 else None,
        type=type_,
    )
    parent.children.append(it.id)
    it.parent = parent.id
    _settle(world, it, anchor, rng, people)
    if in_program:
        world.set_project_fields(
            it,
            {
                "status": project_status(it),
                "iteration": _iteration_for(iterations, it.closed_at or it.updated_at),
                "estimate": rng.choice([1, 2, 3, 5, 8]),
            },
        )
    return it


def _settle(world: GitHubWorld, it: Issue, anchor: datetime, rng: random.Random, people: list[str]) -> None:
    """Give an issue a plausible life so far: maybe started, maybe closed, with its history."""
    age_days = (anchor - it.created_at).days
    stamps: list[tuple[datetime, str, str, str, str | None]] = []
    created_cat = "todo"
    stamps.append((it.created_at, "", "open", "", created_cat))
    now_cat = "todo"
    moment = it.created_at
    if rng.random() < 0.75 and age_days > 2:
        moment = it.created_at + timedelta(
            days=rng.randint(1, max(1, age_days // 2)), hours=rng.randint(0, 8)
        )
        it.assignees = [rng.choice(people)]
        if rng.random() < 0.3:
            it.labels.append("in progress")
        stamps.append((moment, "open", "open", now_cat, "in_progress"))
        now_cat = "in_progress"
        done_chance = min(0.85, age_days / HISTORY_DAYS + 0.15)
        if rng.random() < done_chance and (anchor - moment).days > 1:
            moment = moment + timedelta(
                days=rng.randint(1, max(1, (anchor - moment).days - 1)), hours=rng.randint(0, 6)
            )
            reason = "not_planned" if rng.random() < 0.08 else "completed"
            _close(world, it, moment, reason)
            if "in progress" in it.labels:
                it.labels.remove("in progress")
            stamps.append((moment, "open", "closed", now_cat, "done"))
    it.updated_at = max(moment, it.created_at) + timedelta(minutes=rng.randint(1, 600))
    if it.updated_at > anchor:
        it.updated_at = anchor - timedelta(minutes=rng.randint(1, 60))
    _history(it, stamps)
    it.history[0]["from"] = None
    it.history[0]["from_category"] = None


def _demo_dependencies(world: GitHubWorld, rng: random.Random) -> None:
    """~24 GitHub dependencies (blocked_by), a third of them across repositories."""
    repos = list(world.repos.values())
    fixed = [
        ("acme/web#7", "acme/api-gateway#2"),  # web blocked by the gateway
        ("acme/mobile#6", "acme/api-gateway#2"),
        ("acme/web#12", "acme/api-gateway#5"),
        ("acme/mobile#9", "acme/web#10"),
        ("acme/api-gateway#14", "acme/api-gateway#10"),
        ("acme/web#16", "acme/web#13"),
    ]
    pairs = list(fixed)
    for _ in range(18):
        repo = rng.choice(repos)
        other = repo if rng.random() < 0.6 else rng.choice(repos)
        a = rng.randint(5, min(40, repo.next_number - 1))
        b = rng.randint(5, min(40, other.next_number - 1))
        pairs.append((f"{repo.full_name}#{a}", f"{other.full_name}#{b}"))
    for blocked_key, blocker_key in pairs:
        blocked = world.by_key(blocked_key)
        blocker = world.by_key(blocker_key)
        if blocked is blocker or blocker.id in blocked.blocked_by or blocked.id in blocker.blocked_by:
            continue
        if blocked.is_pr or blocker.is_pr:
            continue
        blocked.blocked_by.append(blocker.id)
        blocker.blocking.append(blocked.id)
    # In-GitHub text references too ("depends on acme/api-gateway#3").
    for src, dst in [("acme/web#18", "acme/api-gateway#3"), ("acme/mobile#15", "acme/web#11")]:
        it = world.by_key(src)
        it.body = (it.body or "") + f"\n\nDepends on {dst}."


def _demo_pull_requests(world: GitHubWorld, anchor: datetime, rng: random.Random) -> None:
    for repo in world.repos.values():
        candidates = [it for it in repo.issues.values() if not it.is_pr and it.type != "Epic"]
        for it in rng.sample(candidates, 8):
            created = it.created_at + timedelta(days=1)
            if created >= anchor:
                continue
            pr = world.add_issue(
                repo,
                f"{it.title} (PR)",
                body=f"Closes #{it.number}.",
                user=it.assignees[0] if it.assignees else "tpm-acme",
                created_at=created,
                is_pr=True,
            )
            if it.state == "closed" and it.closed_at:
                _close(world, pr, it.closed_at)
                pr.merged_at = it.closed_at
                pr.updated_at = it.closed_at
            else:
                pr.updated_at = min(anchor - timedelta(minutes=5), created + timedelta(hours=3))


def build_scale(world: GitHubWorld, config: SandboxConfig) -> None:
    """``github_items`` issues (5% pull requests) over 3 + N/50,000 repositories, fast and lean."""
    total = config.github_items
    rng = random.Random(config.rng_seed * 31 + 7)
    anchor = _anchor(config)
    start = anchor - timedelta(days=HISTORY_DAYS)
    span = int((anchor - start).total_seconds()) - 3600
    teams = [t for t in demo.TEAMS if t.tracker == "github"]
    extra = total // 50_000
    repos: list[Repo] = [_setup_repo(world, t, start) for t in teams]
    for i in range(extra):
        team = demo.Team(f"svc-{i:03d}", f"Service {i}", "github", f"acme/svc-{i:03d}", ("service",))
        repos.append(_setup_repo(world, team, start))
    for repo in repos:
        _add_milestones(world, repo, anchor, rng)
    logins = [p.github_login for p in demo.PEOPLE if p.github_login]
    per_repo = [total // len(repos) + (1 if i < total % len(repos) else 0) for i in range(len(repos))]
    for repo, count in zip(repos, per_repo, strict=True):
        offsets = sorted(rng.randrange(span) for _ in range(count))
        epic: Issue | None = None
        for n, offset in enumerate(offsets, start=1):
            created = start + timedelta(seconds=offset)
            is_pr = n > demo.GUARANTEED_NUMBERS and n % 20 == 0
            is_epic = not is_pr and n % 50 == 1
            it = world.add_issue(
                repo,
                f"{'Epic' if is_epic else 'Item'} {n} of {repo.name}",
                body=None,
                user=logins[n % len(logins)],
                created_at=created,
                updated_at=created + timedelta(seconds=rng.randrange(3600 * 24)),
                labels=["epic", "checkout-v2"] if is_epic and n % 200 == 1 else (["epic"] if is_epic else []),
                assignees=[logins[(n * 7) % len(logins)]] if n % 3 else [],
                milestone=(n % 4) + 1 if n % 5 == 0 else None,
                type="Epic" if is_epic else ("Bug" if n % 9 == 0 else "Task"),
                is_pr=is_pr,
            )
            if it.updated_at > anchor:
                it.updated_at = anchor
            if is_epic:
                epic = it
            elif epic is not None and not is_pr and len(epic.children) < 40:
                epic.children.append(it.id)
                it.parent = epic.id
            if n % 3 == 0:
                it.state, it.state_reason, it.closed_at = "closed", "completed", it.updated_at
            if n % 97 == 0 and not is_pr and n > 2:
                blocker = repo.issues[n - 2]
                if not blocker.is_pr:
                    it.blocked_by.append(blocker.id)
                    blocker.blocking.append(it.id)
