"""hold_for_call(): reserve_slot's database work in one round trip, contenders failing on the constraint.

One call opens (and locks) the call's row, releases the call's previous hold, retires the expired holds in
the way, inserts the hold on the first of the given resources where the time is free, audits each of these
and writes the hold's expiry job to the outbox (hold_time() is the part from retiring on). Before, that was
the call upsert, the release and its audit rows, a savepoint, an advisory lock per (resource, local day),
an UPDATE, an INSERT per retired hold, the INSERT, a release of the savepoint, the audit INSERT and the
outbox INSERT: eleven round trips and more, with every caller booking any time of that provider's day
queued behind the lock.

Why contenders no longer need that lock (PostgreSQL's src/backend/executor/execIndexing.c, header comment,
"Exclusion Constraints" and "Speculative insertion"): a plain INSERT into an exclusion-constrained table
inserts its index entry first and checks for conflicts after, waiting for any in-progress conflicting
inserter; two that insert at once each wait for the other, and the deadlock detector aborts one after
`deadlock_timeout` (1 s, superuser-only) -- with hundreds of contenders, cascades of them and sometimes no
winner at all (measured: 80 contenders of which the first two winners roll back took 67 s and left no
winner). `INSERT ... ON CONFLICT ON CONSTRAINT bookings_no_overlap DO NOTHING` is a speculative insertion
instead: it first checks for conflicting rows and waits for the transaction of any in-progress one to end
(ExecCheckIndexConstraints, CEOUC_WAIT), then inserts and checks again; on a conflict with another
in-progress inserter the one with the higher xid backs its row out and goes back to waiting, the other
waits without backing out (CEOUC_LIVELOCK_PREVENTING_WAIT), so two inserters never wait for each other.
A contender therefore waits only for the few milliseconds until the transaction holding an overlapping row
commits or rolls back, and then gets "taken" only if that row committed: one that rolled back leaves the
time to the next contender, never a false "taken" (the same 80 contenders: one winner, 0.1 s).

The shared advisory lock per (resource, local day) that remains costs holds nothing among themselves
(shared locks do not conflict); it keeps them out of the way of a reschedule (store.bookings.try_move),
whose UPDATE is a plain, non-speculative index insertion that takes the same key exclusively: a hold and a
move racing for overlapping time could otherwise wait for each other.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        r"""
        -- domain.model.mask_phone: '+15551234321' -> '***4321'
        CREATE FUNCTION mask_phone(phone text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
            SELECT CASE WHEN phone IS NULL OR phone = '' THEN NULL ELSE '***' || right(phone, 4) END
        $$;

        -- datetime.isoformat() of a UTC instant: microseconds only when there are any, offset +00:00
        CREATE FUNCTION iso_utc(ts timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
            SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                   || CASE WHEN extract(microseconds FROM ts) % 1000000 = 0 THEN ''
                           ELSE to_char(ts AT TIME ZONE 'UTC', '.US') END || '+00:00'
        $$;

        -- domain.model.Booking.snapshot(): what the audit trail records of a row, the same JSON either side
        CREATE FUNCTION booking_snapshot(b bookings) RETURNS jsonb LANGUAGE sql STABLE AS $$
            SELECT jsonb_build_object('id', b.id, 'status', b.status, 'resource_id', b.resource_id,
                                      'service_id', b.service_id, 'starts_at', iso_utc(b.starts_at),
                                      'ends_at', iso_utc(b.ends_at), 'hold_expires_at', iso_utc(b.hold_expires_at),
                                      'phone', mask_phone(b.phone))
        $$;

        -- The hold (NULL when the time is taken on every resource) and the id of its expiry job's outbox row.
        CREATE FUNCTION hold_time(p_tenant bigint, p_resources bigint[], p_service bigint, p_day integer,
                                  p_start timestamptz, p_end timestamptz, p_call text, p_expires timestamptz,
                                  p_now timestamptz, p_tool_call text, p_queue text, p_actor text,
                                  OUT hold bookings, OUT outbox_id bigint)
        LANGUAGE plpgsql AS $$
        DECLARE
            r bigint;
        BEGIN
            FOREACH r IN ARRAY p_resources LOOP
                BEGIN
                    PERFORM pg_advisory_xact_lock_shared(CAST(r AS integer), p_day);
                    -- expired holds in the way stop blocking the constraint; locked in id order, so two
                    -- contenders retiring overlapping sets never wait for each other
                    WITH retired AS (
                        UPDATE bookings b SET status = 'expired', updated_at = p_now
                        WHERE b.id IN (
                            SELECT x.id FROM bookings x
                            WHERE x.tenant_id = p_tenant AND x.resource_id = r
                              AND x.status = 'held' AND x.hold_expires_at <= p_now
                              AND tstzrange(x.starts_at, x.ends_at) && tstzrange(p_start, p_end)
                            ORDER BY x.id FOR UPDATE)
                        RETURNING b AS row)
                    INSERT INTO booking_audit (tenant_id, booking_id, action, call_id, phone_masked, before, after)
                    SELECT p_tenant, (row).id, 'expired', (row).call_id, mask_phone((row).phone),
                           booking_snapshot(row) || '{"status": "held"}', booking_snapshot(row)
                    FROM retired;

                    INSERT INTO bookings (tenant_id, resource_id, service_id, status, starts_at, ends_at, call_id,
                                          hold_expires_at, created_at, updated_at)
                    VALUES (p_tenant, r, p_service, 'held', p_start, p_end, p_call, p_expires, p_now, p_now)
                    ON CONFLICT ON CONSTRAINT bookings_no_overlap DO NOTHING
                    RETURNING * INTO hold;
                EXCEPTION WHEN deadlock_detected OR exclusion_violation THEN
                    -- not expected (see the migration's docstring), but if it ever happens the time was
                    -- contended by a transaction holding an overlapping row: "taken", never an error
                    hold := NULL;
                END;
                IF hold.id IS NOT NULL THEN
                    INSERT INTO booking_audit (tenant_id, booking_id, action, call_id, tool_call_id, after)
                    VALUES (p_tenant, hold.id, 'held', p_call, p_tool_call, booking_snapshot(hold));
                    INSERT INTO outbox (tenant_id, queue, actor, args, eta)
                    VALUES (p_tenant, p_queue, p_actor, jsonb_build_array(p_tenant, hold.id), p_expires)
                    RETURNING id INTO outbox_id;
                    RETURN;
                END IF;
            END LOOP;
        END
        $$;

        -- reserve_slot's whole database side but the idempotency claim and the stored answer: record the call
        -- (if new) and lock its row; if it has ended, only say so; else release its hold (a call holds one
        -- slot: audited 'replaced') and hold_time(). When the time is taken everywhere, the release is undone
        -- here (the block's own subtransaction, on the server), so a refused reserve leaves nothing but the
        -- call's row and needs no savepoint of the runner's: no SAVEPOINT and ROLLBACK TO round trips, and no
        -- ROLLBACK making psycopg forget the connection's prepared statements (domain.services.runner).
        CREATE FUNCTION hold_for_call(p_tenant bigint, p_call text, p_tool_call text, p_resources bigint[],
                                      p_service bigint, p_day integer, p_start timestamptz, p_end timestamptz,
                                      p_expires timestamptz, p_now timestamptz, p_queue text, p_actor text,
                                      OUT call_status text, OUT hold bookings, OUT outbox_id bigint)
        LANGUAGE plpgsql AS $$
        DECLARE
            got record;
        BEGIN
            INSERT INTO call_states (tenant_id, call_id) VALUES (p_tenant, p_call)
            ON CONFLICT (tenant_id, call_id) DO UPDATE SET status = call_states.status
            RETURNING status INTO call_status;
            IF call_status = 'ended' THEN
                RETURN;
            END IF;
            BEGIN
                WITH released AS (
                    UPDATE bookings b SET status = 'released', updated_at = p_now
                    WHERE b.tenant_id = p_tenant AND b.call_id = p_call AND b.status = 'held'
                    RETURNING b AS row)
                INSERT INTO booking_audit (tenant_id, booking_id, action, call_id, tool_call_id, phone_masked,
                                           before, after)
                SELECT p_tenant, (row).id, 'replaced', p_call, p_tool_call, mask_phone((row).phone),
                       booking_snapshot(row) || '{"status": "held"}', booking_snapshot(row)
                FROM released;
                SELECT * INTO got   -- one record: PL/pgSQL takes no composite in a list of INTO targets
                FROM hold_time(p_tenant, p_resources, p_service, p_day, p_start, p_end, p_call, p_expires, p_now,
                               p_tool_call, p_queue, p_actor);
                IF (got.hold).id IS NULL THEN
                    RAISE SQLSTATE 'FD001';  -- taken: undo the release, below
                END IF;
                hold := got.hold;
                outbox_id := got.outbox_id;
            EXCEPTION WHEN SQLSTATE 'FD001' THEN
                hold := NULL;
                outbox_id := NULL;
            END;
        END
        $$;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION hold_for_call(bigint, text, text, bigint[], bigint, integer, timestamptz, timestamptz,
                                    timestamptz, timestamptz, text, text);
        DROP FUNCTION hold_time(bigint, bigint[], bigint, integer, timestamptz, timestamptz, text, timestamptz,
                                timestamptz, text, text, text);
        DROP FUNCTION booking_snapshot(bookings);
        DROP FUNCTION iso_utc(timestamptz);
        DROP FUNCTION mask_phone(text);
        """
    )
