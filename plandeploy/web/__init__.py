"""The web pages: catalogue, plans, preflight, install and live progress, server-rendered."""
