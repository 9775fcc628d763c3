"""Device simulator: a fleet of sensors publishing JSON to the ingest queue."""
