"""Bases: scan backfills and PITR exports of a table's items, and finding a table's base.
Imports core only; the ensure function runs the first snapshot in Lambda."""
