"""voltbill adapters payments layer."""
