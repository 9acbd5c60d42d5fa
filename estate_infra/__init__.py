"""Infrastructure: where PostgreSQL runs and how its schema is kept.

No web framework and no domain code here. The ``estate`` command, Alembic's
``migrations/env.py`` and the test and benchmark fixtures decide which database
to use; the web application is handed a URL and never starts one.
"""
