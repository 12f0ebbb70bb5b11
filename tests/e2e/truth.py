"""Compare the unified model with the sandbox's ``/_sandbox/truth`` (documented in sandbox/README.md).

Returns human-readable differences; an empty list means the model equals the truth.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from sync.model import Link, PersonIdentity, Release, StatusChange, WorkItem, WorkItemRelease

ITEM_FIELDS = (
    "title",
    "kind",
    "status_category",
    "resolution",
    "parent",
    "labels",
    "estimate",
    "due_date",
    "assignee",
    "releases",
)


def model_items(session: Session) -> dict[str, dict[str, Any]]:
    parent = aliased(WorkItem)
    ident = {
        (pid, sid): (ext, login)
        for pid, sid, ext, login in session.execute(
            select(
                PersonIdentity.person_id,
                PersonIdentity.source_id,
                PersonIdentity.external_id,
                PersonIdentity.login,
            )
        ).all()
    }
    releases: dict[int, list[str]] = defaultdict(list)
    for item_id, name in session.execute(
        select(WorkItemRelease.work_item_id, Release.name).join(
            Release, Release.id == WorkItemRelease.release_id
        )
    ).all():
        releases[item_id].append(name)
    out: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(WorkItem, parent.key)
        .outerjoin(parent, parent.id == WorkItem.parent_id)
        .where(WorkItem.deleted_at.is_(None))
    ).all()
    for item, parent_key in rows:
        if item.key in out:
            out[item.key]["duplicate"] = True
        assignee = None
        if item.assignee_id is not None:
            ext, login = ident.get((item.assignee_id, item.source_id), (None, None))
            assignee = login if item.tracker.value == "github" else ext
        out[item.key] = {
            "id": item.external_id,
            "title": item.title,
            "kind": item.kind.value,
            "status_category": item.status_category.value,
            "resolution": item.resolution.value if item.resolution else None,
            "parent": parent_key,
            "labels": sorted(item.labels),
            "estimate": item.estimate,
            "due_date": item.due_date.isoformat() if item.due_date else None,
            "assignee": assignee,
            "releases": sorted(releases.get(item.id, [])),
            "updated": item.remote_updated_at,
        }
    return out


def _effective_due(t: dict[str, Any], milestones: dict[tuple[str, str], str | None]) -> str | None:
    """GitHub issues have no due date of their own: crosstrack takes their milestone's (PRODUCT §3)."""
    if t["due_date"] or t["tracker"] != "github" or not t["releases"]:
        return t["due_date"]
    return milestones.get((t["scope"], t["releases"][0]))


def truth_items(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    milestones = {
        (r["scope"], r["name"]): r["due_date"] for r in truth["releases"] if r["tracker"] == "github"
    }
    return {
        t["key"]: {
            "id": t["id"],
            "title": t["title"],
            "kind": t["kind"],
            "status_category": t["status_category"],
            "resolution": t["resolution"],
            "parent": t["parent"],
            "labels": sorted(t["labels"]),
            "estimate": t["estimate"],
            "due_date": _effective_due(t, milestones),
            "assignee": t["assignee"],
            "releases": sorted(t["releases"]),
        }
        for t in truth["items"]
    }


def model_links(session: Session) -> set[tuple[str, str, str, str]]:
    return {(lk.from_key, lk.to_key, lk.type.value, lk.origin.value) for lk in session.scalars(select(Link))}


def truth_links(truth: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(lk["from"], lk["to"], lk["type"], lk["origin"]) for lk in truth["links"]}


def differences(
    session: Session, truth: dict[str, Any], *, fields: tuple[str, ...] = ITEM_FIELDS
) -> list[str]:
    ours, theirs = model_items(session), truth_items(truth)
    diffs: list[str] = []
    for key in sorted(theirs.keys() - ours.keys()):
        diffs.append(f"missing item {key}")
    for key in sorted(ours.keys() - theirs.keys()):
        diffs.append(f"extra item {key}")
    for key in sorted(ours.keys() & theirs.keys()):
        if ours[key].get("duplicate"):
            diffs.append(f"duplicate item {key}")
        for f in fields:
            if ours[key][f] != theirs[key][f]:
                diffs.append(f"{key}.{f}: model {ours[key][f]!r} != truth {theirs[key][f]!r}")
    ml, tl = model_links(session), truth_links(truth)
    diffs += [f"missing link {lk}" for lk in sorted(tl - ml)]
    diffs += [f"extra link {lk}" for lk in sorted(ml - tl)]
    return diffs


def history_differences(session: Session, truth: dict[str, Any], tracker: str) -> list[str]:
    keys = {t["key"] for t in truth["items"] if t["tracker"] == tracker}
    ours: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, at, to_status in session.execute(
        select(WorkItem.key, StatusChange.at, StatusChange.to_status)
        .join(WorkItem, WorkItem.id == StatusChange.work_item_id)
        .order_by(StatusChange.at)
    ).all():
        if key in keys:
            ours[key].append((at.isoformat(timespec="seconds"), to_status))
    diffs = []
    for key in sorted(keys):
        want = [(_iso(h["at"]), h["to"]) for h in truth["status_history"].get(key, [])]
        if sorted(ours.get(key, [])) != sorted(want):
            diffs.append(f"{key} history: model {len(ours.get(key, []))} changes != truth {len(want)}")
    return diffs


def _iso(value: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat(timespec="seconds")
