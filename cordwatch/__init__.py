"""cordwatch: the command line, settings and intake service around the pathway core."""
