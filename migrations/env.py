"""Alembic environment: runs the plain-SQL revisions in versions/ against DATABASE_URL.

`frontdesk migrate` sets the URL on the config; running `alembic upgrade head` by hand reads DATABASE_URL.
"""

import os

from alembic import context
from sqlalchemy import create_engine

from frontdesk.settings import sqlalchemy_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
if not url:
    raise SystemExit("DATABASE_URL is not set")


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(url), future=True)
    with engine.connect() as connection:
        context.configure(connection=connection, transactional_ddl=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=sqlalchemy_url(url), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
