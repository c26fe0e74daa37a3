"""voltbill services layer."""
