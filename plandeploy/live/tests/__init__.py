"""Tests of the live updates over /ws/notifications/."""
