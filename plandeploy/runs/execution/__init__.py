"""Carrying a plan run or a preflight from `started` to a final status, in the worker."""
