"""Indexes for the operators' admin API: appointments by start time (per clinic and across clinics) and by
phone, texts per clinic newest first, and a call's tool calls and booking changes by call id.

The tools never needed these (they look up one call's hold, one phone's upcoming appointments); without
them every page of /admin/api/appointments, /messages or /audit would read whole tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE INDEX bookings_appointments_by_tenant_start ON bookings (tenant_id, starts_at, id)
            WHERE status IN ('booked', 'cancelled');
        CREATE INDEX bookings_appointments_by_start ON bookings (starts_at, id)
            WHERE status IN ('booked', 'cancelled');
        CREATE INDEX bookings_appointments_by_phone ON bookings (phone, starts_at, id)
            WHERE status IN ('booked', 'cancelled');
        CREATE INDEX sms_messages_by_tenant ON sms_messages (tenant_id, id);
        CREATE INDEX tool_results_by_call ON tool_results (call_id);
        CREATE INDEX booking_audit_by_call ON booking_audit (call_id);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX booking_audit_by_call, tool_results_by_call, sms_messages_by_tenant,
                   bookings_appointments_by_phone, bookings_appointments_by_start,
                   bookings_appointments_by_tenant_start;
        """
    )
