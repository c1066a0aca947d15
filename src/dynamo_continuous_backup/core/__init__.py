"""What every part shares: config, names, the record format, a table's schema, the AWS facade
(typed errors, retries, polling) and the exception hierarchy. Imports nothing of ours."""
