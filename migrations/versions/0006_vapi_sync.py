"""The Vapi tool sync's own records: which Vapi tool it created for each clinic's tool (and the hash of
the definition it last sent), and every run it made.

Vapi has no owner field on a tool, so `vapi_tools` is what tells the sync's tools from everything else in a
Vapi organisation: it patches and deletes only ids listed here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE vapi_tools (
            tenant_id       bigint NOT NULL REFERENCES tenants(id),
            tool_name       text NOT NULL,
            vapi_tool_id    text NOT NULL UNIQUE,
            definition_hash text NOT NULL,          -- sha256 of the canonical JSON last sent to Vapi
            updated_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, tool_name)
        );
        CREATE TABLE vapi_sync_runs (
            id          bigserial PRIMARY KEY,
            tenant_id   bigint NOT NULL REFERENCES tenants(id),
            started_at  timestamptz NOT NULL,
            finished_at timestamptz,
            status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed')),
            writes      integer NOT NULL DEFAULT 0,     -- POST, PATCH and DELETE requests Vapi accepted
            error       text                            -- with Vapi's response body
        );
        CREATE INDEX vapi_sync_runs_tenant ON vapi_sync_runs (tenant_id, started_at DESC);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE vapi_sync_runs; DROP TABLE vapi_tools;")
