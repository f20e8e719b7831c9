"""Users, org connections and API tokens."""
