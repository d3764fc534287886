"""The databases behind the job table, apart from what the queue means.

`database.py` is the seam (`Database`); `opening.py` picks the backend (`open_database`);
`sqlite.py` and `postgres.py` are the
two backends; `dialect.py` holds the few places where their SQL differs; `schema.py` the
migrations both run; `url.py` reads DATABASE_URL. Everything above this package (jobs/*.py:
the fair order, the life of a job, its files, the painters' leases) is written once for both.
"""
