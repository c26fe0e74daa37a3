"""`voltbill demo`: a realistic demo operator and its history, generated through the real services."""
