"""One-time codes: challenges (codes stored only as salted hashes), per-tenant rules, verified calls.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenants
            ADD COLUMN otp_code_ttl_seconds integer NOT NULL DEFAULT 300,
            ADD COLUMN otp_max_attempts integer NOT NULL DEFAULT 5,
            ADD COLUMN otp_max_sends integer NOT NULL DEFAULT 5,
            ADD COLUMN otp_send_window_seconds integer NOT NULL DEFAULT 600,
            ADD COLUMN otp_resend_cooldown_seconds integer NOT NULL DEFAULT 30;

        ALTER TABLE call_states
            ADD COLUMN verified_phone text,
            ADD COLUMN verified_at timestamptz;

        CREATE TABLE otp_challenges (
            id          bigserial PRIMARY KEY,
            tenant_id   bigint NOT NULL REFERENCES tenants(id),
            call_id     text NOT NULL,
            phone       text NOT NULL,
            status      text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'verified', 'locked', 'expired', 'failed')),
            code_hash   text,                      -- HMAC-SHA256(salt, code); the code itself is never stored
            salt        text,
            attempts    integer NOT NULL DEFAULT 0, -- wrong codes entered
            sms_id      bigint REFERENCES sms_messages(id),
            created_at  timestamptz NOT NULL,
            sent_at     timestamptz,
            expires_at  timestamptz,
            verified_at timestamptz
        );
        CREATE INDEX otp_challenges_call ON otp_challenges (tenant_id, call_id, id);
        CREATE INDEX otp_challenges_phone ON otp_challenges (tenant_id, phone, created_at);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE otp_challenges;
        ALTER TABLE call_states DROP COLUMN verified_phone, DROP COLUMN verified_at;
        ALTER TABLE tenants DROP COLUMN otp_code_ttl_seconds, DROP COLUMN otp_max_attempts,
            DROP COLUMN otp_max_sends, DROP COLUMN otp_send_window_seconds, DROP COLUMN otp_resend_cooldown_seconds;
        """
    )
