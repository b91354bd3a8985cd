"""iCal feeds: VTIMEZONEs from the tz database, VEVENTs per event, feeds assembled from pieces.

Rendering is pure and uses the ``icalendar`` library; ``feeds`` caches the
bytes so that serving a feed costs neither a database scan nor a render.
"""
