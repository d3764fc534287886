"""`python -m jobs migrate --to postgresql://…`: move a SQLite installation into PostgreSQL.

    python -m jobs migrate --to postgresql://picasso:PASSWORD@db-host:5432/picasso
    python -m jobs migrate --data-dir /srv/picasso/data     # the URL from DATABASE_URL

Stop the bot and the painters first (a job enqueued meanwhile would not be copied), run this,
then start everything with DATABASE_URL set. Running it again copies only what is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from jobs.backends.url import DatabaseUrlError, parse_database_url
from jobs.models import DatabaseUnavailable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser(
        "migrate", help="copy DATA_DIR/picasso.db (jobs, users, settings, bans) into PostgreSQL"
    )
    migrate.add_argument(
        "--to",
        dest="url",
        default=os.environ.get("DATABASE_URL"),
        help="postgresql://user:password@host:port/db (default: $DATABASE_URL)",
    )
    migrate.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("DATA_DIR", "data")),
        help="the installation to copy (default: $DATA_DIR or ./data)",
    )
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("say where to: --to postgresql://… (or set DATABASE_URL)")
    try:
        parse_database_url(args.url)
    except DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not (args.data_dir / "picasso.db").is_file():
        print(f"error: there is no {args.data_dir / 'picasso.db'} to copy", file=sys.stderr)
        return 2
    from jobs.moving import MoveConflict, move

    try:
        summary = asyncio.run(move(args.data_dir, args.url))
    except (DatabaseUnavailable, MoveConflict) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
