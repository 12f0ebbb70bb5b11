"""Real-shaped Jira payloads for table-driven tests, written after Atlassian's documented examples.

Cloud: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/ (GET issue),
Data Center 9: https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/ . Only the values
differ per test; the nesting is the vendor's.
"""

from __future__ import annotations

import copy
from typing import Any

BASE = "https://acme.atlassian.net"

STATUS_TODO = {
    "self": f"{BASE}/rest/api/3/status/10000",
    "description": "",
    "iconUrl": f"{BASE}/images/icons/statuses/generic.png",
    "name": "To Do",
    "id": "10000",
    "statusCategory": {
        "self": f"{BASE}/rest/api/3/statuscategory/2",
        "id": 2,
        "key": "new",
        "colorName": "blue-gray",
        "name": "To Do",
    },
}
STATUS_IN_REVIEW = {
    **STATUS_TODO,
    "name": "In Review",
    "id": "10002",
    "statusCategory": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
}
STATUS_DONE = {
    **STATUS_TODO,
    "name": "Done",
    "id": "10001",
    "statusCategory": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}

CLOUD_USER = {
    "self": f"{BASE}/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d4ef5",
    "accountId": "5b10ac8d82e05b22cc7d4ef5",
    "emailAddress": "mia@example.com",
    "displayName": "Mia Krystof",
    "active": True,
    "timeZone": "Australia/Sydney",
    "accountType": "atlassian",
}
DC_USER = {
    "self": "https://jira.example.com/rest/api/2/user?username=mkrystof",
    "name": "mkrystof",
    "key": "JIRAUSER10100",
    "emailAddress": "mia@example.com",
    "displayName": "Mia Krystof",
    "active": True,
    "timeZone": "Europe/Berlin",
}

BLOCKS = {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"}
RELATES = {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"}
DUPLICATE = {"id": "10002", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates"}
CLONERS = {"id": "10001", "name": "Cloners", "inward": "is cloned by", "outward": "clones"}


def issue_ref(iid: str, key: str) -> dict[str, Any]:
    return {
        "id": iid,
        "key": key,
        "self": f"{BASE}/rest/api/3/issue/{iid}",
        "fields": {"summary": "linked", "status": STATUS_TODO, "issuetype": {"id": "10001", "name": "Story"}},
    }


def cloud_issue(**overrides: Any) -> dict[str, Any]:
    """A Cloud issue as ``search/jql`` returns it with explicit fields and ``expand=changelog``."""
    fields: dict[str, Any] = {
        "summary": "Checkout: card form validation",
        "status": STATUS_IN_REVIEW,
        "resolution": None,
        "resolutiondate": None,
        "issuetype": {
            "self": f"{BASE}/rest/api/3/issuetype/10001",
            "id": "10001",
            "description": "Functionality or a feature expressed as a user goal.",
            "name": "Story",
            "subtask": False,
            "hierarchyLevel": 0,
        },
        "project": {
            "self": f"{BASE}/rest/api/3/project/10000",
            "id": "10000",
            "key": "PAY",
            "name": "Payments",
        },
        "created": "2026-09-01T09:15:00.000+1000",
        "updated": "2026-11-20T23:59:30.512+1000",
        "assignee": CLOUD_USER,
        "parent": {"id": "10003", "key": "PAY-3", "self": f"{BASE}/rest/api/3/issue/10003", "fields": {}},
        "labels": ["checkout-v2", "frontend"],
        "fixVersions": [
            {
                "self": f"{BASE}/rest/api/3/version/10100",
                "id": "10100",
                "name": "2026.12",
                "archived": False,
                "released": False,
                "releaseDate": "2026-12-15",
            }
        ],
        "duedate": "2026-12-01",
        "issuelinks": [],
        "customfield_10016": 5.0,
        "customfield_10015": "2026-11-02",
        "customfield_10020": [
            {
                "id": 7,
                "name": "PAY Sprint 7",
                "state": "closed",
                "boardId": 1,
                "goal": "",
                "startDate": "2026-10-19T00:00:00.000Z",
                "endDate": "2026-11-02T00:00:00.000Z",
                "completeDate": "2026-11-02T10:00:00.000Z",
            },
            {
                "id": 8,
                "name": "PAY Sprint 8",
                "state": "active",
                "boardId": 1,
                "goal": "ship card form",
                "startDate": "2026-11-02T00:00:00.000Z",
                "endDate": "2026-11-16T00:00:00.000Z",
            },
        ],
    }
    issue: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": "10012",
        "self": f"{BASE}/rest/api/3/issue/10012",
        "key": "PAY-12",
        "fields": fields,
        "changelog": {
            "startAt": 0,
            "maxResults": 2,
            "total": 2,
            "histories": [
                {
                    "id": "20001",
                    "author": CLOUD_USER,
                    "created": "2026-11-03T10:00:00.000+1100",
                    "items": [
                        {
                            "field": "status",
                            "fieldtype": "jira",
                            "fieldId": "status",
                            "from": "10000",
                            "fromString": "To Do",
                            "to": "3",
                            "toString": "In Progress",
                        }
                    ],
                },
                {
                    "id": "20002",
                    "author": CLOUD_USER,
                    "created": "2026-11-20T23:59:30.512+1000",
                    "items": [
                        {
                            "field": "labels",
                            "fieldtype": "jira",
                            "from": None,
                            "fromString": "",
                            "toString": "frontend",
                        },
                        {
                            "field": "status",
                            "fieldtype": "jira",
                            "fieldId": "status",
                            "from": "3",
                            "fromString": "In Progress",
                            "to": "10002",
                            "toString": "In Review",
                        },
                    ],
                },
            ],
        },
    }
    issue = copy.deepcopy(issue)
    for path, value in overrides.items():
        target = issue
        parts = path.split("__")
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return issue


def dc_issue(**overrides: Any) -> dict[str, Any]:
    """A Data Center 9 issue from ``/rest/api/2/search``: Epic Link field, legacy sprint strings."""
    issue = copy.deepcopy(cloud_issue())
    issue["self"] = "https://jira.example.com/rest/api/2/issue/10012"
    fields = issue["fields"]
    del fields["parent"]
    del fields["customfield_10015"]
    fields["assignee"] = DC_USER
    fields["created"] = "2026-09-01T01:15:00.000+0200"
    fields["updated"] = "2026-11-20T15:59:30.512+0100"
    fields["customfield_10014"] = "PAY-3"
    fields["customfield_10020"] = [
        "com.atlassian.greenhopper.service.sprint.Sprint@5f3c1a[id=7,rapidViewId=1,state=CLOSED,name=PAY Sprint 7,"
        "startDate=2026-10-19T00:00:00.000+02:00,endDate=2026-11-02T00:00:00.000+01:00,"
        "completeDate=2026-11-02T10:00:00.000+01:00,sequence=7,goal=]",
        "com.atlassian.greenhopper.service.sprint.Sprint@6a2b9e[id=8,rapidViewId=1,state=ACTIVE,"
        "name=PAY Sprint 8, the big one,startDate=2026-11-02T00:00:00.000+01:00,"
        "endDate=2026-11-16T00:00:00.000+01:00,completeDate=<null>,sequence=8,goal=ship it]",
    ]
    for path, value in overrides.items():
        target = issue
        parts = path.split("__")
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return issue


CLOUD_FIELDS = [
    {"id": "summary", "name": "Summary", "custom": False, "schema": {"type": "string", "system": "summary"}},
    {
        "id": "customfield_10014",
        "name": "Epic Link",
        "custom": True,
        "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link", "customId": 10014},
    },
    {
        "id": "customfield_10015",
        "name": "Start date",
        "custom": True,
        "schema": {"type": "date", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datepicker"},
    },
    {
        "id": "customfield_10016",
        "name": "Story point estimate",
        "custom": True,
        "schema": {
            "type": "number",
            "custom": "com.pyxis.greenhopper.jira:jsw-story-points",
            "customId": 10016,
        },
    },
    {
        "id": "customfield_10020",
        "name": "Sprint",
        "custom": True,
        "schema": {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint"},
    },
    {
        "id": "customfield_10099",
        "name": "Team points",
        "custom": True,
        "schema": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float"},
    },
]
DC_FIELDS = [
    {
        "id": "customfield_10106",
        "name": "Story Points",
        "custom": True,
        "schema": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float"},
    },
    {
        "id": "customfield_10100",
        "name": "Epic Link",
        "custom": True,
        "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link"},
    },
    {
        "id": "customfield_10101",
        "name": "Sprint",
        "custom": True,
        "schema": {"type": "array", "items": "string", "custom": "com.pyxis.greenhopper.jira:gh-sprint"},
    },
]
