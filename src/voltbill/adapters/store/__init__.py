"""voltbill adapters store layer."""
