"""voltbill adapters layer."""
