"""The clinic's own phone number, which confirmation texts give patients to call to cancel or change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN phone text")


def downgrade() -> None:
    op.execute("ALTER TABLE tenants DROP COLUMN phone")
