"""voltbill adapters ocpp layer."""
