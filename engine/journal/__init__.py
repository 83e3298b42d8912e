"""The training journal: check-ins stored in a database, progression decided by rules over them.

``store`` keeps the check-ins (SQLAlchemy Core: a SQLite file by default, PostgreSQL by URL); ``rules``
is the progression rules' language; ``progression`` decides, with durable_rules over the stream of
check-ins and the independent replay as guard; ``chart`` draws the pain trend; ``invariants`` is the part
of ``backplan verify`` that checks every sequence of check-ins up to a bound.
"""
