"""The authorization matrix: every route of the APIs and pages, and every websocket
subscription, for every kind of caller (callers.py), with the status the rules give."""
