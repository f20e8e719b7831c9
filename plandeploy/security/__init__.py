"""Request protection all web processes share: client addresses, rate limits, allow-lists."""
