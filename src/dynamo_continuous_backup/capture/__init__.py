"""Capture: a stream batch becomes NDJSON lines in the table's Firehose stream (the forwarder's
logic). Imports core only; runs in Lambda."""
