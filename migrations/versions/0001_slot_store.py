"""Tenants, their schedules, the slot store, idempotent tool results, call states and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE tenants (
            id                   bigserial PRIMARY KEY,
            slug                 text NOT NULL UNIQUE,
            name                 text NOT NULL,
            timezone             text NOT NULL,
            country              text NOT NULL DEFAULT 'US',
            -- keyed hash (HMAC-SHA256 with SECRET_KEY) of the webhook secret; the secret itself is never stored
            secret_hash          text NOT NULL UNIQUE,
            secret_env           text,
            assistant_ids        text[] NOT NULL DEFAULT '{}',
            hold_minutes         integer NOT NULL,
            slot_minutes         integer NOT NULL,
            require_otp          boolean NOT NULL DEFAULT false,
            booking_horizon_days integer NOT NULL,
            min_notice_minutes   integer NOT NULL,
            config_version       integer NOT NULL DEFAULT 1,
            config_fingerprint   text NOT NULL,
            created_at           timestamptz NOT NULL DEFAULT now(),
            updated_at           timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE services (
            id        bigserial PRIMARY KEY,
            tenant_id bigint NOT NULL REFERENCES tenants(id),
            name      text NOT NULL,
            minutes   integer NOT NULL CHECK (minutes > 0),
            position  integer NOT NULL,
            active    boolean NOT NULL DEFAULT true
        );
        CREATE UNIQUE INDEX services_tenant_name ON services (tenant_id, lower(name));

        CREATE TABLE resources (
            id        bigserial PRIMARY KEY,
            tenant_id bigint NOT NULL REFERENCES tenants(id),
            name      text NOT NULL,
            position  integer NOT NULL,
            active    boolean NOT NULL DEFAULT true
        );
        CREATE UNIQUE INDEX resources_tenant_name ON resources (tenant_id, lower(name));

        CREATE TABLE resource_services (
            tenant_id   bigint NOT NULL REFERENCES tenants(id),
            resource_id bigint NOT NULL REFERENCES resources(id),
            service_id  bigint NOT NULL REFERENCES services(id),
            PRIMARY KEY (resource_id, service_id)
        );

        CREATE TABLE working_hours (
            id          bigserial PRIMARY KEY,
            tenant_id   bigint NOT NULL REFERENCES tenants(id),
            resource_id bigint NOT NULL REFERENCES resources(id),
            weekday     smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),  -- 0 = Monday
            opens       time NOT NULL,
            closes      time NOT NULL CHECK (closes > opens)
        );
        CREATE INDEX working_hours_tenant ON working_hours (tenant_id);

        CREATE TABLE closures (
            id          bigserial PRIMARY KEY,
            tenant_id   bigint NOT NULL REFERENCES tenants(id),
            day         date NOT NULL,
            resource_id bigint REFERENCES resources(id),
            reason      text NOT NULL DEFAULT ''
        );
        CREATE INDEX closures_tenant ON closures (tenant_id);

        -- The slot store. A row is a hold ('held', for one call until hold_expires_at) or an appointment
        -- ('booked'). Both block the resource; the exclusion constraint below is what makes double
        -- booking impossible, whatever the application does. It needs no extension: int8range stands in
        -- for btree_gist's equality on the resource id.
        CREATE TABLE bookings (
            id              bigserial PRIMARY KEY,
            tenant_id       bigint NOT NULL REFERENCES tenants(id),
            resource_id     bigint NOT NULL REFERENCES resources(id),
            service_id      bigint NOT NULL REFERENCES services(id),
            status          text NOT NULL
                            CHECK (status IN ('held', 'booked', 'released', 'expired', 'cancelled')),
            starts_at       timestamptz NOT NULL,
            ends_at         timestamptz NOT NULL,
            call_id         text,
            hold_expires_at timestamptz,
            customer_name   text,
            phone           text,
            notes           text,
            cancel_reason   text,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            booked_at       timestamptz,
            CHECK (ends_at > starts_at),
            CHECK (status <> 'held' OR hold_expires_at IS NOT NULL),
            CONSTRAINT bookings_no_overlap EXCLUDE USING gist (
                int8range(resource_id, resource_id, '[]') WITH =,
                tstzrange(starts_at, ends_at) WITH &&
            ) WHERE (status IN ('held', 'booked'))
        );
        -- a call holds at most one slot at a time
        CREATE UNIQUE INDEX bookings_one_hold_per_call ON bookings (tenant_id, call_id) WHERE status = 'held';
        CREATE INDEX bookings_by_phone ON bookings (tenant_id, phone, starts_at) WHERE status = 'booked';
        CREATE INDEX bookings_by_call ON bookings (tenant_id, call_id);

        -- Every tool call's answer, so a replayed toolCallId gets the byte-identical result and does nothing.
        CREATE TABLE tool_results (
            tenant_id    bigint NOT NULL REFERENCES tenants(id),
            tool_call_id text NOT NULL,
            call_id      text,
            name         text NOT NULL,
            result       text NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, tool_call_id)
        );

        CREATE TABLE call_states (
            tenant_id    bigint NOT NULL REFERENCES tenants(id),
            call_id      text NOT NULL,
            status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
            ended_reason text,
            started_at   timestamptz NOT NULL DEFAULT now(),
            ended_at     timestamptz,
            PRIMARY KEY (tenant_id, call_id)
        );

        CREATE TABLE booking_audit (
            id           bigserial PRIMARY KEY,
            tenant_id    bigint NOT NULL REFERENCES tenants(id),
            booking_id   bigint NOT NULL REFERENCES bookings(id),
            action       text NOT NULL,
            call_id      text,
            tool_call_id text,
            phone_masked text,
            before       jsonb,
            after        jsonb,
            created_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX booking_audit_booking ON booking_audit (tenant_id, booking_id);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE booking_audit, call_states, tool_results, bookings, closures, working_hours,
                   resource_services, resources, services, tenants;
        """
    )
