"""voltbill adapters documents layer."""
