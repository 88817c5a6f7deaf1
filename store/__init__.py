"""The PostgreSQL adapter: the domain's ports (domain.ports, domain.notify.SmsStore) on psycopg 3, partly
through SQLAlchemy 2 async Core. Apart from the migrations, the only package that imports SQLAlchemy.

Two ways to the database, on purpose. The units of work (every tool call, each in the web process) run on
connections of psycopg's own async pool (SqlStore.pool): measured on one SELECT 1 handler, SQLAlchemy's async
layer (greenlet hop, result wrapping, its pool) halved the throughput of psycopg with its pool (1,945 vs 4,177
req/s, issue 10). The store side (authentication, schedules, the workers, the clock, the sweeper, the admin
API, tenant files, the Vapi sync) stays on the SQLAlchemy engine, where a statement's cost does not matter and
Core reads well; alembic migrates with it. Statements are written one way for both, as `text()` with
`:name` parameters (see base.py for how a unit of work runs them).

Split by concern. A concern's unit-of-work mixin runs statements inside one tenant's transaction (every
statement scoped by `tenant_id = :t`); its store mixin runs what the web, the workers and the clock do
outside a use case, each on a connection of its own:

    engine.py     make_engine and make_pool (sessions in UTC both), hash_secret
    base.py       what the mixins share: the connection, the engine, statement runners, rows by name
    tenants.py    TenantAuth, authentication, the tenant a Vapi request names, schedules and their cache,
                  applying tenant files
    bookings.py   holds (hold_for_call(), exclusion constraint) and appointments, audit, hold expiry
    calls.py      tool-call idempotency, call states, the verified phone
    results.py    read-only tools' answers, written in batches off the request path
    otp.py        one-time-code challenges
    sms.py        texts: queued in a transaction; claimed, finished and reported on outside one
    outbox.py     jobs written in a transaction; the relay; pruning
    admin.py      what the operators' admin API reads across tenants (bounded, indexed)
    vapi.py       the Vapi tool sync's map of the tools it created, its runs and its per-tenant lock
    uow.py        SqlUnitOfWork: a pool connection, transaction handling, composed of the unit-of-work mixins
    sql_store.py  SqlStore: owns the engine and the pool (open, close), composed of the store mixins
"""

from .engine import hash_secret, make_engine, make_pool
from .sql_store import SqlStore
from .tenants import TenantAuth, VapiTenant
from .uow import SqlUnitOfWork

__all__ = ["SqlStore", "SqlUnitOfWork", "TenantAuth", "VapiTenant", "hash_secret", "make_engine", "make_pool"]
