"""Pricing of charging sessions by OCPI 2.2.1 tariffs, in the stages of ocpi-tariffs.

``periods`` (session -> charging periods), ``restrictions`` (when an element applies), ``pricer`` (periods ->
costs), ``report`` (costs -> OCPI CDR), ``lint`` (tariff problems with JSON paths).
"""
