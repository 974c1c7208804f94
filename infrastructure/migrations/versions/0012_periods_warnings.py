"""Every backtest's warnings and bar size are projected again: a ``periods_per_year``
more than 10 % from the one its rows' spacing gives is now a warning naming both (only
252 on daily rows with weekends was before), and weekly and monthly bars are named
``1w`` and ``1M`` as intervals are (``7d`` and ``31d`` before).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

The warnings are set null here, and with them every stored field of the details (the
bar size included) is projected from the event log by
``fill_missing_documents``, run by every CLI command (``serve`` included) right after
this upgrade, or by ``projections rebuild``. The downgrade leaves them as they are:
0011's code reads the new ones as it read its own.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    details = sa.table("backtest_details", sa.column("warnings", sa.Text))
    op.execute(details.update().values(warnings=None))


def downgrade() -> None:
    pass
