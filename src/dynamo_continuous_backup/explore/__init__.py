"""Looking into backups: an item's history, SQL over backups, Athena DDL. Imports core and restore."""
