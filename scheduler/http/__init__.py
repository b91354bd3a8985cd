"""The HTTP API (aiohttp): routes per resource, auth, problem+json errors, OpenAPI.

The only package that imports ``aiohttp.web``.
"""
