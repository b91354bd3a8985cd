"""broadcast-scheduler: live webstream events with time-zone-correct times.

The package stores events, fires signed reminder webhooks, publishes iCal
feeds and answers whether a stream is upcoming, live or over.
"""

__version__ = "0.1.0"
