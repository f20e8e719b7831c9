"""Live updates over `/ws/notifications/`: one LISTEN per web process fanned out to websockets."""
