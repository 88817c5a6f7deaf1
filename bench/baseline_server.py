"""The denominators of `make bench`: three hand-written handlers in a server process of their own.

    .venv/bin/python bench/baseline_server.py --port 8099 --database-url postgresql://... [--loop uvloop]

    GET /bare        a JSON answer, no database: what aiohttp itself costs
    GET /psycopg     SELECT 1 through psycopg_pool.AsyncConnectionPool: what one round trip costs at best
    GET /sqlalchemy  SELECT 1 through a SQLAlchemy async engine: the same through SQLAlchemy's async layer

Nothing of frontdesk is imported, so no change to frontdesk moves these figures. Pools are the size of
frontdesk's default (DB_POOL_SIZE 10, 10 more on demand). `--loop uvloop` when the server measured beside
it runs on uvloop, so that a ratio compares our code and not event loops.
"""

from __future__ import annotations

import argparse

from aiohttp import web
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

POOL_SIZE, OVERFLOW = 10, 10


def build(database_url: str) -> web.Application:
    app = web.Application()
    pool = AsyncConnectionPool(database_url, min_size=POOL_SIZE, max_size=POOL_SIZE + OVERFLOW, open=False)
    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1),
                                 pool_size=POOL_SIZE, max_overflow=OVERFLOW)

    async def bare(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def psycopg_select1(request: web.Request) -> web.Response:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT 1")
            row = await cur.fetchone()
        return web.json_response({"ok": row == (1,)})

    async def sqlalchemy_select1(request: web.Request) -> web.Response:
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT 1"))).scalar()
        return web.json_response({"ok": value == 1})

    async def lifecycle(app: web.Application):
        await pool.open(wait=True, timeout=10)
        async with engine.connect() as conn:  # fail at start-up, not under load, if the database is not there
            await conn.execute(text("SELECT 1"))
        yield
        await pool.close()
        await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/bare", bare)
    app.router.add_get("/psycopg", psycopg_select1)
    app.router.add_get("/sqlalchemy", sqlalchemy_select1)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="baseline handlers for make bench")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    loop = None
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(build(args.database_url), host="127.0.0.1", port=args.port, print=None, access_log=None,
                loop=loop)


if __name__ == "__main__":
    main()
