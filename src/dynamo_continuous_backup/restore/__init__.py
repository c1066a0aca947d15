"""Reading backups back: the S3 store and local cache, the state at T, restore, ImportTable,
table writes and verify. Imports core only."""
