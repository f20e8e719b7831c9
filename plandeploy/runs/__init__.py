"""Plan runs (Job), preflight checks and scratch orgs, with their status changes."""
