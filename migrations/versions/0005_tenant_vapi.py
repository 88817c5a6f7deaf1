"""A clinic's [vapi] table, and the lookups Vapi's requests need: by assistant id, by phone number.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenants
            ADD COLUMN vapi jsonb NOT NULL DEFAULT '{}'::jsonb,
            ADD COLUMN vapi_phone_numbers text[] NOT NULL DEFAULT '{}';
        CREATE INDEX tenants_vapi_phone_numbers ON tenants USING gin (vapi_phone_numbers);
        CREATE INDEX tenants_assistant_ids ON tenants USING gin (assistant_ids);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX tenants_assistant_ids;
        DROP INDEX tenants_vapi_phone_numbers;
        ALTER TABLE tenants DROP COLUMN vapi_phone_numbers, DROP COLUMN vapi;
        """
    )
