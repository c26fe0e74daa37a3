"""voltbill api layer."""
