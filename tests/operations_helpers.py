"""A second, empty database of the same kind as the test app's, for restores and purges."""
import uuid
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import models
from app import create_app

from .conftest import BASE_CONFIG, POSTGRES_URL, _CliRunner


@contextmanager
def empty_database(app, tmp_path):
    """Yield the URL of a new, empty database of the app's kind; drop it afterwards."""
    if app.db_kind == "sqlite":
        yield f"sqlite:///{tmp_path}/restored-{uuid.uuid4().hex[:6]}.db"
        return
    import psycopg2

    name = f"kenshin_restore_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    try:
        yield urlunparse(urlparse(POSTGRES_URL)._replace(path="/" + name))
    finally:
        if not models.db.is_closed():
            models.db.close()
        if hasattr(models.db.obj, "close_all"):
            models.db.obj.close_all()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def runner_for(url):
    """An app and CLI runner on another database (the global binding moves to it)."""
    other = create_app(dict(BASE_CONFIG, DATABASE_URL=url))
    return other, _CliRunner(other)
