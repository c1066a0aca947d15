"""The Athena engine: the state at T, item history and SQL over backups, run in the account by
Athena (Trino) instead of DuckDB on this machine. Imports core, restore and explore."""
