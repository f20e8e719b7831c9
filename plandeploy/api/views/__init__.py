"""Views of the public API (/api/), one module per area; urls.py routes to them."""
