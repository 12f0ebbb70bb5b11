"""The demo organization both seeds share: people, teams, the program, cross-tracker links.

Both worlds read this module so their seeds agree on who exists and which keys the cross-tracker
dependencies name. Keys are deterministic: Jira keys are numbered per project from 1 in creation
order (ids from 10000), GitHub numbers per repository from 1. Every key named in
``CROSS_TRACKER_LINKS`` has a number <= ``GUARANTEED_NUMBERS``; each seed guarantees those items
exist, are issues (not pull requests) and are never deleted, moved or transferred by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CROSS_TRACKER_LINKS",
    "GITHUB_ORG",
    "GUARANTEED_NUMBERS",
    "JIRA_BROWSE_BASE",
    "PEOPLE",
    "PROGRAM",
    "TEAMS",
    "CrossLink",
    "Person",
    "Program",
    "Team",
    "person_by_github",
    "person_by_jira",
]

# The Jira site the demo's text references and browse URLs use (the sandbox itself is elsewhere).
JIRA_BROWSE_BASE = "https://acme.atlassian.net"
GITHUB_ORG = "acme"
GUARANTEED_NUMBERS = 30


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    jira_account_id: str | None  # None: has no Jira account
    github_login: str | None  # None: has no GitHub account
    team: str | None  # team slug, None for the TPM / people outside the teams
    time_zone: str = "America/New_York"


@dataclass(frozen=True)
class Team:
    slug: str
    name: str
    tracker: str  # "jira" or "github"
    scope: str  # Jira project key or GitHub "owner/repo"
    themes: tuple[str, ...]  # what the team's epics are about (seeds build titles from them)


@dataclass(frozen=True)
class Program:
    slug: str
    name: str
    label: str  # the label program epics carry in both trackers
    epics_per_team: int  # program epics each team's seed creates (2-3)


@dataclass(frozen=True)
class CrossLink:
    """A dependency between the trackers, carried by ``source``'s world.

    ``relation`` is read from the source: "blocked by" (source is blocked by target) or "blocks".
    ``origin``: "text_reference" (a phrase in the source's body/description, e.g. "blocked by PAY-12"
    or a browse/issue URL), "remote_link" (a Jira remote link on the Jira source pointing at the
    GitHub issue's html_url).
    """

    source: str
    relation: str
    target: str
    origin: str

    @property
    def blocker(self) -> str:
        return self.target if self.relation == "blocked by" else self.source

    @property
    def blocked(self) -> str:
        return self.source if self.relation == "blocked by" else self.target


def _acct(n: int) -> str:
    # Atlassian accountIds look like 24 hex digits (e.g. 5b10ac8d82e05b22cc7d4ef5).
    return f"5b10ac8d82e05b22cc7d{n:04x}"


PEOPLE: tuple[Person, ...] = (
    Person("Taylor Morgan", "tpm@example.com", _acct(1), "tpm-acme", None),
    Person("Priya Raman", "priya.raman@example.com", _acct(2), "praman", "payments"),
    Person("Marcus Chen", "marcus.chen@example.com", _acct(3), "mchen-dev", "payments"),
    Person("Sofia Alvarez", "sofia.alvarez@example.com", _acct(4), None, "payments", "Europe/Madrid"),
    Person("Daniel Okafor", "daniel.okafor@example.com", _acct(5), "dokafor", "platform"),
    Person("Hannah Becker", "hannah.becker@example.com", _acct(6), "hbecker", "platform", "Europe/Berlin"),
    Person("Yuki Tanaka", "yuki.tanaka@example.com", _acct(7), None, "platform", "Asia/Tokyo"),
    Person("Liam O'Brien", "liam.obrien@example.com", None, "lobrien", "web", "Europe/Dublin"),
    Person("Amara Nwosu", "amara.nwosu@example.com", _acct(9), "anwosu", "web"),
    Person("Chloe Dubois", "chloe.dubois@example.com", None, "cdubois", "web", "Europe/Paris"),
    Person("Ravi Patel", "ravi.patel@example.com", None, "rpatel-mobile", "mobile", "Asia/Kolkata"),
    Person(
        "Emma Lindqvist", "emma.lindqvist@example.com", _acct(12), "elindqvist", "mobile", "Europe/Stockholm"
    ),
    Person("Jonas Weber", "jonas.weber@example.com", None, "jweber", "api-gateway", "Europe/Berlin"),
    Person("Grace Kim", "grace.kim@example.com", _acct(14), "gracekim", "api-gateway", "America/Los_Angeles"),
)

TEAMS: tuple[Team, ...] = (
    Team(
        "payments",
        "Payments",
        "jira",
        "PAY",
        ("payment intents", "3-D Secure", "refunds", "Apple Pay and Google Pay", "fraud scoring"),
    ),
    Team(
        "platform",
        "Platform",
        "jira",
        "PLAT",
        ("order service", "event bus", "feature flags", "observability", "database migrations"),
    ),
    Team("web", "Web", "github", "acme/web", ("checkout page", "address form", "cart", "accessibility")),
    Team("mobile", "Mobile", "github", "acme/mobile", ("native checkout", "wallet sheet", "offline cart")),
    Team(
        "api-gateway",
        "API Gateway",
        "github",
        "acme/api-gateway",
        ("checkout API", "rate limiting", "auth tokens", "schema versioning"),
    ),
)

PROGRAM = Program(slug="checkout-v2", name="Checkout v2", label="checkout-v2", epics_per_team=3)

# About 10 dependencies across the trackers. Each seed creates the ones whose source it owns.
CROSS_TRACKER_LINKS: tuple[CrossLink, ...] = (
    CrossLink("acme/web#5", "blocked by", "PAY-12", "text_reference"),
    CrossLink("acme/web#9", "blocked by", "PLAT-7", "text_reference"),
    CrossLink("acme/mobile#4", "blocked by", "PAY-15", "text_reference"),
    CrossLink("acme/mobile#11", "blocks", "PLAT-20", "text_reference"),
    CrossLink("acme/api-gateway#6", "blocked by", "PLAT-3", "text_reference"),
    CrossLink("acme/api-gateway#8", "blocks", "PAY-22", "text_reference"),
    CrossLink("PLAT-3", "blocks", "acme/api-gateway#2", "remote_link"),
    CrossLink("PAY-18", "blocked by", "acme/api-gateway#3", "remote_link"),
    CrossLink("PAY-25", "blocked by", "acme/web#14", "remote_link"),
    CrossLink("PLAT-11", "blocks", "acme/mobile#7", "text_reference"),
    CrossLink("PAY-9", "blocked by", "acme/api-gateway#12", "text_reference"),
)


def person_by_github(login: str) -> Person | None:
    return next((p for p in PEOPLE if p.github_login == login), None)


def person_by_jira(account_id: str) -> Person | None:
    return next((p for p in PEOPLE if p.jira_account_id == account_id), None)


def team_people(team_slug: str) -> list[Person]:
    return [p for p in PEOPLE if p.team == team_slug]


def jira_browse_url(key: str) -> str:
    return f"{JIRA_BROWSE_BASE}/browse/{key}"


def github_html_url(key: str) -> str:
    """``acme/web#5`` -> ``https://github.com/acme/web/issues/5``."""
    repo, number = key.split("#")
    return f"https://github.com/{repo}/issues/{number}"
