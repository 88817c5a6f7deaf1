"""Transactional outbox, SMS delivery records and per-tenant SMS settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenants
            ADD COLUMN sms_from text,
            ADD COLUMN sms_messaging_service_sid text,
            ADD COLUMN twilio_account_sid text,
            ADD COLUMN twilio_auth_token_env text;

        -- Jobs are written here in the same transaction as the change that needs them, published to
        -- Redis after commit, and re-published by the clock's relay if that never happened.
        CREATE TABLE outbox (
            id           bigserial PRIMARY KEY,
            tenant_id    bigint NOT NULL REFERENCES tenants(id),
            queue        text NOT NULL,
            actor        text NOT NULL,
            args         jsonb NOT NULL,
            eta          timestamptz,              -- deliver no earlier than this (delayed jobs)
            created_at   timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz,
            publish_attempts integer NOT NULL DEFAULT 0
        );
        CREATE INDEX outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;

        -- One row per text we promised. `dedupe_key` makes "exactly one text per change" a constraint.
        CREATE TABLE sms_messages (
            id           bigserial PRIMARY KEY,
            tenant_id    bigint NOT NULL REFERENCES tenants(id),
            dedupe_key   text NOT NULL,
            kind         text NOT NULL,            -- confirmation | otp
            to_phone     text NOT NULL,
            body         text,                     -- NULL for one-time codes: they are never stored
            status       text NOT NULL DEFAULT 'pending' CHECK (status IN
                         ('pending', 'sending', 'retrying', 'sent', 'queued', 'delivered', 'undelivered',
                          'failed', 'opted_out', 'expired')),
            provider_sid text,
            error_code   text,
            attempts     integer NOT NULL DEFAULT 0,
            claimed_at   timestamptz,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            sent_at      timestamptz,
            UNIQUE (tenant_id, dedupe_key)
        );
        CREATE UNIQUE INDEX sms_messages_provider_sid ON sms_messages (provider_sid) WHERE provider_sid IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE sms_messages, outbox;
        ALTER TABLE tenants DROP COLUMN sms_from, DROP COLUMN sms_messaging_service_sid,
            DROP COLUMN twilio_account_sid, DROP COLUMN twilio_auth_token_env;
        """
    )
