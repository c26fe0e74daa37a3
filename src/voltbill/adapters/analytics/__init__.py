"""voltbill adapters analytics layer."""
