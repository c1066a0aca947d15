"""The `dynamo-backup` command line (and deploy.py, provision_tables.py, deprovision_tables.py)."""

from .main import UI, main

__all__ = ["UI", "main"]
