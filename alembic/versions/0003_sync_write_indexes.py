"""sync write path: index the lookups the writer makes per batch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_work_item_tracker_parent_key", "work_item", ["tracker", "parent_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_work_item_tracker_parent_key", table_name="work_item")
