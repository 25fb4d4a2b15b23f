"""The lab server: the catalog's HTTP API (:mod:`.app`) and the service calls it offers
(:mod:`.registry`). Users hold bearer tokens; only this process holds the database's
credentials. What each route reveals is what its service function returns to that user.
"""

__all__: list[str] = []
