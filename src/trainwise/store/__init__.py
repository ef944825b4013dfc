"""The run store: every run and its metrics in one database (SQLite by default, any SQLAlchemy URL)."""
