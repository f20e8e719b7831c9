"""Org types that plan runs target: `local` (a workspace on the worker host) and `salesforce`."""
