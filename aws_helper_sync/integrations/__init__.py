"""Web framework integrations: the constitution-state header for each request.

Each module is imported on its own, so the core never imports a web framework:

    from aws_helper_sync.integrations.flask import StateRouting     # needs the [flask] extra
    from aws_helper_sync.integrations.wsgi import StateMiddleware   # stdlib only
"""
