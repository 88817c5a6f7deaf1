"""The PostgreSQL adapter: the domain's ports (domain.ports, domain.notify.SmsStore) on SQLAlchemy 2 async
Core and psycopg 3. Apart from the migrations, the only package that imports SQLAlchemy.

Split by concern. A concern's unit-of-work mixin runs statements inside one tenant's transaction (every
statement scoped by `tenant_id = :t`); its store mixin runs what the web, the workers and the clock do
outside a use case, each on a connection of its own:

    engine.py     make_engine (sessions in UTC), hash_secret
    base.py       what the mixins share: the connection, the engine, statement runners
    tenants.py    TenantAuth, authentication, the tenant a Vapi request names, schedules and their cache,
                  applying tenant files
    bookings.py   holds (hold_for_call(), exclusion constraint) and appointments, audit, hold expiry
    calls.py      tool-call idempotency, call states, the verified phone
    otp.py        one-time-code challenges
    sms.py        texts: queued in a transaction; claimed, finished and reported on outside one
    outbox.py     jobs written in a transaction; the relay; pruning
    admin.py      what the operators' admin API reads across tenants (bounded, indexed)
    vapi.py       the Vapi tool sync's map of the tools it created, its runs and its per-tenant lock
    uow.py        SqlUnitOfWork: transaction handling, composed of the unit-of-work mixins
    sql_store.py  SqlStore: owns the engine, composed of the store mixins
"""

from .engine import hash_secret, make_engine
from .sql_store import SqlStore
from .tenants import TenantAuth, VapiTenant
from .uow import SqlUnitOfWork

__all__ = ["SqlStore", "SqlUnitOfWork", "TenantAuth", "VapiTenant", "hash_secret", "make_engine"]
