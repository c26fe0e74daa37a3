"""The demo operator as data: locations in several time zones, chargers of both OCPP versions, OCPI tariffs with
time-of-day prices and idle fees, drivers with every payment method. Deterministic for a given size, so seeding
twice produces the same ids (the registry upserts make a rerun a no-op).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

OPERATOR_ID = "demo"
OPERATOR_NAME = "Voltway Charging (demo)"
OPERATOR_TIME_ZONE = "Europe/Berlin"
ADMIN_EMAIL = "admin@voltway.example"
STAFF_EMAIL = "staff@voltway.example"
DEMO_PASSWORD = "voltbill-demo"
# The demo operator's admin API key (a demo secret, printed by `voltbill demo`; never use it in production).
DEMO_API_KEY = "voltbill-demo-api-key"
CURRENCY = "EUR"

Size = Literal["small", "full"]


@dataclass(frozen=True, slots=True)
class DemoLocation:
    """A site: OCPI Location fields (``country`` alpha-3, coordinates as decimal strings) and its VAT rate."""

    id: str
    name: str
    address: str
    city: str
    postal_code: str
    country: str
    latitude: str
    longitude: str
    time_zone: str
    vat: Decimal
    busy: Decimal  # relative demand (1 = average site)

    def to_api(self) -> dict[str, Any]:
        """The ``location`` object of ``PUT /api/v1/charge-points/{id}``."""
        return {
            "name": self.name,
            "address": self.address,
            "city": self.city,
            "postal_code": self.postal_code,
            "country": self.country,
            "coordinates": {"latitude": self.latitude, "longitude": self.longitude},
            "time_zone": self.time_zone,
        }


@dataclass(frozen=True, slots=True)
class DemoCharger:
    """A charger: ``protocol`` ``ocpp1.6`` or ``ocpp2.0.1``, ``max_kw`` per connector, ``connectors`` count."""

    id: str
    location: DemoLocation
    protocol: str
    kind: Literal["AC", "DC"]
    max_kw: Decimal
    connectors: int
    tariff_id: str
    vendor: str
    model: str


@dataclass(frozen=True, slots=True)
class DemoDriver:
    """A driver with one RFID token; ``payment_method`` is ``wallet``, ``card`` or ``invoice``."""

    id: str
    name: str
    email: str
    payment_method: Literal["wallet", "card", "invoice"]
    token_uid: str
    home_location: str
    billing_address: dict[str, str]


LOCATIONS: tuple[DemoLocation, ...] = (
    DemoLocation("berlin-hbf", "Berlin Hauptbahnhof P2", "Europaplatz 1", "Berlin", "10557", "DEU",
                 "52.525084", "13.369402", "Europe/Berlin", Decimal("19"), Decimal("1.4")),
    DemoLocation("amsterdam-zuid", "Amsterdam Zuid Garage", "Strawinskylaan 101", "Amsterdam", "1077XX", "NLD",
                 "52.338900", "4.872600", "Europe/Amsterdam", Decimal("21"), Decimal("1.2")),
    DemoLocation("lisbon-oriente", "Lisboa Oriente", "Avenida Dom João II 1", "Lisboa", "1990-233", "PRT",
                 "38.767800", "-9.099500", "Europe/Lisbon", Decimal("23"), Decimal("0.9")),
    DemoLocation("helsinki-kamppi", "Helsinki Kamppi", "Urho Kekkosen katu 1", "Helsinki", "00100", "FIN",
                 "60.168900", "24.931400", "Europe/Helsinki", Decimal("25.5"), Decimal("0.8")),
    DemoLocation("munich-a9", "München Nord A9 Rasthof", "Ingolstädter Str. 300", "München", "80939", "DEU",
                 "48.203600", "11.602800", "Europe/Berlin", Decimal("19"), Decimal("1.1")),
    DemoLocation("dublin-docklands", "Dublin Docklands", "North Wall Quay 1", "Dublin", "D01", "IRL",
                 "53.348000", "-6.239000", "Europe/Dublin", Decimal("23"), Decimal("0.7")),
)  # fmt: skip


def tariff_id(location: DemoLocation, kind: str) -> str:
    """``de-ac`` / ``de-dc``: one AC and one DC tariff per country (VAT differs by country)."""
    return f"{location.country.lower()}-{kind.lower()}"


def tariff_body(location: DemoLocation, kind: str) -> dict[str, Any]:
    """An OCPI 2.2.1 Tariff (mod_tariffs): AC is cheaper at night (22:00-07:00, restriction crossing midnight)
    with a session fee; DC has a flat energy price, a per-minute component above 50 kW and an idle fee
    (PARKING_TIME, billed per minute after the car stops charging)."""
    vat = str(location.vat)
    if kind == "AC":
        elements: list[dict[str, Any]] = [
            {
                "price_components": [{"type": "ENERGY", "price": "0.29", "vat": vat, "step_size": 1}],
                "restrictions": {"start_time": "22:00", "end_time": "07:00"},
            },
            {"price_components": [{"type": "ENERGY", "price": "0.39", "vat": vat, "step_size": 1}]},
            {"price_components": [{"type": "FLAT", "price": "0.50", "vat": vat, "step_size": 1}]},
            {"price_components": [{"type": "PARKING_TIME", "price": "3.00", "vat": vat, "step_size": 60}]},
        ]
        alt = "AC: 0.39/kWh (0.29/kWh 22:00-07:00) + 0.50 per session; idle 3.00/h. Excl. VAT."
    else:
        elements = [
            {
                "price_components": [{"type": "TIME", "price": "6.00", "vat": vat, "step_size": 60}],
                "restrictions": {"min_power": 50},
            },
            {"price_components": [{"type": "ENERGY", "price": "0.55", "vat": vat, "step_size": 1}]},
            {"price_components": [{"type": "PARKING_TIME", "price": "12.00", "vat": vat, "step_size": 60}]},
        ]
        alt = "DC: 0.55/kWh, 6.00/h above 50 kW; idle fee 12.00/h. Excl. VAT."
    return {
        "id": tariff_id(location, kind),
        "country_code": location.country[:2],
        "party_id": "VWY",
        "currency": CURRENCY,
        "type": "REGULAR",
        "tariff_alt_text": [{"language": "en", "text": alt}],
        "elements": elements,
        "last_updated": "2026-01-01T00:00:00Z",
    }


def chargers(size: Size) -> list[DemoCharger]:
    """Four chargers per location (two per site when small), alternating OCPP 1.6 and 2.0.1; the last of each
    site is a DC fast charger."""
    locations = LOCATIONS if size == "full" else LOCATIONS[:2]
    per_site = 4 if size == "full" else 2
    result = []
    for location in locations:
        for n in range(1, per_site + 1):
            dc = n == per_site
            kind: Literal["AC", "DC"] = "DC" if dc else "AC"
            protocol = "ocpp2.0.1" if n % 2 == 0 else "ocpp1.6"
            result.append(
                DemoCharger(
                    id=f"VWY-{location.id.split('-')[0][:3].upper()}-{n:02d}",
                    location=location,
                    protocol=protocol,
                    kind=kind,
                    max_kw=Decimal("150") if dc else Decimal("11"),
                    connectors=1 if dc else 2,
                    tariff_id=tariff_id(location, kind),
                    vendor="Alpitronic" if dc else ("ABB" if protocol == "ocpp2.0.1" else "Wallbe"),
                    model="HYC150" if dc else ("Terra AC" if protocol == "ocpp2.0.1" else "Pro"),
                )
            )
    return result


def tariffs(size: Size) -> list[dict[str, Any]]:
    """Every tariff the chargers of ``size`` use, once each."""
    bodies: dict[str, dict[str, Any]] = {}
    for charger in chargers(size):
        bodies.setdefault(charger.tariff_id, tariff_body(charger.location, charger.kind))
    return list(bodies.values())


FIRST = ("Anna", "Ben", "Clara", "David", "Elif", "Finn", "Greta", "Hugo", "Ines", "Jonas", "Katarzyna", "Lars",
         "Mia", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara", "Uwe", "Vera", "Willem", "Xenia",
         "Yusuf", "Zoe", "Aoife", "Mikko", "Sofia", "Thijs")  # fmt: skip
LAST = ("Schmidt", "de Vries", "Silva", "Virtanen", "Murphy", "Müller", "Jansen", "Santos", "Korhonen",
        "Kelly", "Weber", "Bakker", "Ferreira", "Mäkinen", "Byrne", "Wagner", "Visser", "Costa", "Nieminen",
        "Walsh")  # fmt: skip


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace(" ", "")


def drivers(size: Size) -> list[DemoDriver]:
    """60 drivers (12 when small): 40 % wallet, 35 % card, 25 % invoice (fleet accounts)."""
    count = 60 if size == "full" else 12
    rng = random.Random(20260101)
    locations = LOCATIONS if size == "full" else LOCATIONS[:2]
    result = []
    for n in range(count):
        share = n % 20
        method: Literal["wallet", "card", "invoice"] = "wallet" if share < 8 else "card" if share < 15 else "invoice"
        first, last = FIRST[n % len(FIRST)], LAST[(n * 7) % len(LAST)]
        home = locations[n % len(locations)]
        result.append(
            DemoDriver(
                id=f"drv-{n + 1:03d}",
                name=f"{first} {last}",
                email=f"{_ascii(first)}.{_ascii(last)}.{n + 1}@drivers.example",
                payment_method=method,
                token_uid=f"{rng.getrandbits(24):06X}{n:02X}",
                home_location=home.id,
                billing_address={
                    "street": home.address,
                    "city": home.city,
                    "postal_code": home.postal_code,
                    "country": home.country,
                },
            )
        )
    return result
