"""`voltbill` subcommands, one module per area, registered at the bottom of ``voltbill.cli``."""
