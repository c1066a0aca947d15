"""Which tables are covered and making them so: opt-in, pure plans, the provisioner, drains,
fleet runs, status, the ensure function's events. Imports core and snapshot; runs in Lambda."""
