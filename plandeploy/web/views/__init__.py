"""Views of the pages, one module per area; plandeploy/web/urls.py routes to them."""
