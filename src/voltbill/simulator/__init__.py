"""Simulated OCPP 1.6J / 2.0.1 chargers that run full charging sessions against a voltbill server.

Used by ``voltbill simulate``, the end-to-end tests and the load benchmarks. Pure client: it talks to the server
only over the OCPP WebSocket endpoint and, when asked to register its chargers first, the REST API.
"""
