"""program views: each member's nearest epic, materialized in program_item

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:20:00

The views grouped by epic found it with four outer joins of work_item per query; membership
recompute now stores it (docs/adr/0012-fast-program-views.md). Existing rows are filled by the
next membership recompute (every sync run and settled webhook batch); until then they read as
"no epic".
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("program_item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("epic_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_program_item_epic_id_work_item"),
            "work_item",
            ["epic_id"],
            ["id"],
            ondelete="SET NULL",
        )
        # The foreign key's ON DELETE needs it: deleting an item looks up the rows naming it.
        batch_op.create_index(batch_op.f("ix_program_item_epic_id"), ["epic_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("program_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_program_item_epic_id"))
        batch_op.drop_constraint(batch_op.f("fk_program_item_epic_id_work_item"), type_="foreignkey")
        batch_op.drop_column("epic_id")
