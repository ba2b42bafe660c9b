"""Private helpers: no stability promise; import from ``metering`` instead."""
