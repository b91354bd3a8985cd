"""Public pages for people: the schedule, a channel, an event, the embed.

Pure presentation, below the services: view models built from what the API
shows (``scheduler.representation``), schema.org data, the Jinja2 templates
and the static files. Nothing here reads the database or imports aiohttp's
web server; ``scheduler.services.public_pages`` keeps the rendered bytes and
``scheduler.http.pages`` serves them.
"""
