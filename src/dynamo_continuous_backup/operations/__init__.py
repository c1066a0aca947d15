"""Jobs: the backfills, exports, checkpoints, imports and Athena queries in flight or done."""
