"""Mass incidents (DESIGN §5 `incidents`): spike detection across tickets, one problem ticket, bulk notices
and resolutions. rules.incidents decides what a single ticket does; this package keeps the cross-ticket
records in Redis (store), talks to the help desk in bulk (service) and runs as worker jobs (jobs)."""
