"""The event database's backends: one interface (:mod:`.base`), SQLite (:mod:`.sqlite`, the embedded default) and
PostgreSQL (:mod:`.postgres`, for several indexers and readers on several machines), one list of versioned schema
migrations for both (:mod:`.migrations`), where a URL points (:mod:`.location`), and moving a history from one to
the other (:mod:`.copy`). Import :class:`metering.audit.store.Store`: it opens whichever backend a location names.
"""
