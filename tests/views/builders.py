"""Hand-built programs for the view tests: real rows in the real (rolled-back) database.

Every test writes its items with explicit statuses, estimates, dates and links, so the right
answers can be worked out by hand in the test itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from connectors.records import ItemKind, LinkOrigin, LinkType, Resolution, StatusCategory, TrackerKind
from sync.membership import refresh_member_epics
from sync.model import (
    Link,
    Person,
    Program,
    ProgramItem,
    Source,
    StatusChange,
    SyncRun,
    Team,
    WorkItem,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CREATED = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


class World:
    """A small model: sources jira + github, teams, one program, items added by key."""

    def __init__(self, session: Session, *, slug: str = "prog", baseline: date | None = date(2026, 10, 1)):
        self.s = session
        self.jira = Source(
            name="jira",
            kind=TrackerKind.JIRA,
            base_url="https://j.example",
            flavour="cloud",
            credentials_ref="env:X",
            last_synced_at=NOW - timedelta(minutes=5),
        )
        self.github = Source(
            name="github",
            kind=TrackerKind.GITHUB,
            base_url="https://g.example",
            flavour="com",
            credentials_ref="env:Y",
            last_synced_at=NOW - timedelta(minutes=5),
        )
        session.add_all([self.jira, self.github])
        self.teams: dict[str, Team] = {}
        for slug_ in ("pay", "web", "plat"):
            team = Team(slug=slug_, name=slug_.title())
            session.add(team)
            self.teams[slug_] = team
        self.program = Program(
            slug=slug,
            name=slug.title(),
            target_date=date(2027, 1, 31),
            baseline_date=baseline,
            scope_rules={},
            explicit_items={},
            origin="api",
            created_at=CREATED - timedelta(days=30),
        )
        session.add(self.program)
        self.person = Person(display_name="Ada")
        session.add(self.person)
        session.flush()
        # The first successful sync: items added before it count from their creation time.
        for src in (self.jira, self.github):
            session.add(
                SyncRun(
                    source_id=src.id,
                    kind="full",
                    status="succeeded",
                    started_at=CREATED,
                    finished_at=CREATED + timedelta(minutes=1),
                )
            )
        self.items: dict[str, WorkItem] = {}
        self._n = 0

    def item(
        self,
        key: str,
        *,
        team: str | None = "pay",
        kind: ItemKind = ItemKind.STORY,
        status: StatusCategory = StatusCategory.TODO,
        estimate: float | None = 1.0,
        parent: str | None = None,
        resolution: Resolution | None = None,
        due: date | None = None,
        created: datetime = CREATED,
        updated: datetime | None = None,
        resolved: datetime | None = None,
        assigned: bool = True,
        added_at: datetime | None = None,
        member: bool = True,
        labels: list[str] | None = None,
    ) -> WorkItem:
        self._n += 1
        github = "#" in key
        src = self.github if github else self.jira
        item = WorkItem(
            source_id=src.id,
            external_id=str(self._n),
            tracker=src.kind,
            key=key,
            url=f"https://example/{key}",
            title=f"Title {key}",
            scope=key.split("#")[0] if github else key.split("-")[0],
            kind=kind,
            original_type=kind.value,
            status_category=status,
            original_status=status.value,
            resolution=resolution
            if resolution is not None
            else (Resolution.COMPLETED if status is StatusCategory.DONE else None),
            team_id=self.teams[team].id if team else None,
            parent_id=self.items[parent].id if parent else None,
            estimate=estimate,
            labels=labels or [],
            due_date=due,
            remote_created_at=created,
            remote_updated_at=updated or created,
            resolved_at=resolved,
            assignee_id=self.person.id if assigned else None,
        )
        self.s.add(item)
        self.s.flush()
        self.items[key] = item
        if member:
            self.s.add(
                ProgramItem(
                    program_id=self.program.id,
                    work_item_id=item.id,
                    reason="scope",
                    added_at=added_at or CREATED + timedelta(seconds=30),
                )
            )
            self.s.flush()
            # What membership recompute does after every sync: the member's epic, stored.
            refresh_member_epics(self.s, [self.program.id])
        return item

    def blocks(self, blocker: str, blocked: str, *, created: datetime = CREATED) -> Link:
        """``blocker`` blocks ``blocked``; a key not built here becomes an external end."""
        a, b = self.items.get(blocker), self.items.get(blocked)
        link = Link(
            source_id=self.jira.id,
            external_id=f"{blocker}->{blocked}",
            type=LinkType.BLOCKS,
            origin=LinkOrigin.JIRA_ISSUELINK,
            from_tracker=a.tracker if a else (TrackerKind.GITHUB if "#" in blocker else TrackerKind.JIRA),
            from_key=blocker,
            from_item_id=a.id if a else None,
            to_tracker=b.tracker if b else (TrackerKind.GITHUB if "#" in blocked else TrackerKind.JIRA),
            to_key=blocked,
            to_item_id=b.id if b else None,
            created_at=created,
        )
        self.s.add(link)
        self.s.flush()
        return link

    def change(self, key: str, at: datetime, to: StatusCategory, frm: StatusCategory | None = None) -> None:
        item = self.items[key]
        self.s.add(
            StatusChange(
                source_id=item.source_id,
                external_id=f"{key}:{at.isoformat()}:{to.value}",
                work_item_id=item.id,
                at=at,
                from_status=frm.value if frm else None,
                to_status=to.value,
                from_category=frm,
                to_category=to,
            )
        )
        self.s.flush()

    def set(self, **values: Any) -> None:
        for k, v in values.items():
            setattr(self.program, k, v)
        self.s.flush()
