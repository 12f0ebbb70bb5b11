from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.views.builders import World


@pytest.fixture
def world(db_session: Session) -> World:
    return World(db_session)
