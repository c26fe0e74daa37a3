from dataclasses import replace
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from store_data import NOW, OPERATOR, add_card_total_above_the_hold, seed

from voltbill.adapters.analytics.engine import Filters
from voltbill.adapters.analytics.loader import load_input
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.adapters.store.tables.sessions import CdrRow
from voltbill.domain.anomalies import AnomalyKind
from voltbill.domain.clock import FixedClock
from voltbill.domain.errors import Conflict, InvalidInput, NotFound
from voltbill.domain.pricing.periods import read_session
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.pricing.report import build_cdr
from voltbill.domain.tariffs import parse_tariff
from voltbill.services import analytics as svc
from voltbill.services.invoicing import issue_session_invoice

CLOCK = FixedClock(NOW)


@pytest.fixture
def db(database_url):
    migrate(database_url)
    database = Database(database_url)
    seed(database)
    yield database
    database.dispose()


def test_the_loader_reads_one_operators_sessions_and_a_parquet_export_answers_like_the_store(db, tmp_path) -> None:
    with db.uow() as uow:
        data = load_input(uow, OPERATOR)
    rows = {r["session_id"]: r for r in data.sessions.to_pylist()}

    assert sorted(rows) == ["S-CAPTURE", "S-OK", "S-OPEN", "S-ZERO"]
    ok = rows["S-OK"]
    assert (ok["location_id"], ok["time_zone"], ok["evse_id"], ok["payment_method"]) == (
        "LOC-A", "Europe/Berlin", "CP-A-1", "card"
    )  # fmt: skip
    assert (ok["kwh"], ok["meter_stop_wh"], ok["max_power_kw"], ok["charging_seconds"]) == (
        Decimal("10"), Decimal("10000"), 11.0, 2700
    )  # fmt: skip
    assert (ok["total_cost_excl_vat"], ok["total_cost_incl_vat"], ok["captured_amount"]) == (
        Decimal("2.5"), Decimal("2.975"), Decimal("2.98")
    )  # fmt: skip
    assert rows["S-OPEN"]["end_date_time"] is None and rows["S-OPEN"]["currency"] is None
    assert data.locations.to_pylist()[0]["latitude"] == 52.52
    assert [e["evse_id"] for e in data.evses.to_pylist()] == ["CP-A-1"]
    assert [e["status"] for e in data.status_events.to_pylist()] == ["Faulted", "Available"]
    with db.uow() as uow:
        assert load_input(uow, "someone-else").sessions.num_rows == 0
    with db.uow() as uow:
        svc.export_parquet(uow, OPERATOR, tmp_path)
        live = svc.open_engine(uow, OPERATOR, CLOCK)
    exported = svc.open_parquet(tmp_path, CLOCK)
    assert svc.revenue(exported, Filters()) == svc.revenue(live, Filters())
    assert svc.usage(exported, Filters(), by="evse") == svc.usage(live, Filters(), by="evse")
    live.close()
    exported.close()


def test_anomalies_in_stored_sessions_are_found_and_can_be_marked_checked(db) -> None:
    with db.uow() as uow:
        engine = svc.open_engine(uow, OPERATOR, CLOCK)
    with db.uow() as uow:
        found = {(a.session_id, a.kind) for a in svc.anomalies(engine, uow, OPERATOR, Filters())}
    assert found == {
        ("S-CAPTURE", AnomalyKind.CAPTURE_MISMATCH),
        ("S-ZERO", AnomalyKind.CHARGED_ZERO_ENERGY),
        ("S-OPEN", AnomalyKind.NEVER_STOPPED),
    }

    with db.uow() as uow:
        first = svc.mark_checked(uow, OPERATOR, "S-OPEN", "never_stopped", reviewed_by="ops", clock=CLOCK,
                                 note="charger offline, stopped by hand")  # fmt: skip
    with db.uow() as uow:
        replay = svc.mark_checked(uow, OPERATOR, "S-OPEN", "never_stopped", reviewed_by="other",
                                  clock=FixedClock(NOW.replace(hour=13)))  # fmt: skip
    assert replay == first

    with db.uow() as uow:
        marked = {a.session_id: a for a in svc.anomalies(engine, uow, OPERATOR, Filters())}
        unreviewed = svc.anomalies(engine, uow, OPERATOR, Filters(), include_reviewed=False)
    assert (marked["S-OPEN"].checked_by, marked["S-OPEN"].note) == ("ops", "charger offline, stopped by hand")
    assert {a.session_id for a in unreviewed} == {"S-CAPTURE", "S-ZERO"}
    engine.close()


def test_a_card_total_above_the_hold_is_captured_in_two_payments_and_no_mismatch(db) -> None:
    add_card_total_above_the_hold(db, "S-SPLIT", day=3, second_charge="captured")
    add_card_total_above_the_hold(db, "S-SPLIT-DUE", day=4, second_charge="capture_pending")
    with db.uow() as uow:
        rows = {r["session_id"]: r for r in load_input(uow, OPERATOR).sessions.to_pylist()}
        engine = svc.open_engine(uow, OPERATOR, CLOCK)
    assert rows["S-SPLIT"]["captured_amount"] == Decimal("60.00")  # the hold's 50.00 and the second 10.00
    assert rows["S-SPLIT-DUE"]["captured_amount"] is None  # not settled yet: nothing to compare
    with db.uow() as uow:
        found = {(a.session_id, a.kind) for a in svc.anomalies(engine, uow, OPERATOR, Filters())}
    assert ("S-CAPTURE", AnomalyKind.CAPTURE_MISMATCH) in found
    assert not {a for a in found if a[0].startswith("S-SPLIT")}, found
    engine.close()


def test_tariff_whatif_reprices_recent_sessions_from_their_charging_periods(db) -> None:
    proposed = parse_tariff({
        "id": "PROPOSED", "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.50", "vat": 19, "step_size": 1}]}],
    })  # fmt: skip
    with db.uow() as uow:
        report = svc.tariff_whatif(uow, OPERATOR, proposed, days=30, clock=CLOCK)

    assert report.skipped == 0
    rows = {r.key: r for r in report.rows}
    assert list(rows) == ["LOC-A", "total"]
    total = rows["total"]
    assert (total.sessions, total.current_excl_vat, total.proposed_excl_vat) == (3, Decimal("6.0"), Decimal("10.0"))
    assert total.change == Decimal("4.0")
    assert total.change_pct == pytest.approx(66.6667, rel=1e-4)
    with db.uow() as uow:
        chf = svc.tariff_whatif(uow, OPERATOR, replace(proposed, currency="CHF"), days=30, clock=CLOCK)
    assert (chf.rows, chf.skipped) == ([], 3)


def test_reviews_refuse_bad_input_and_a_credit_note_resolves_a_creditable_anomaly(db) -> None:
    with db.uow() as uow, pytest.raises(InvalidInput) as bad_kind:
        svc.mark_checked(uow, OPERATOR, "S-OK", "wrong_kind", reviewed_by="ops", clock=CLOCK)
    assert bad_kind.value.field == "kind"
    with db.uow() as uow, pytest.raises(NotFound):
        svc.mark_checked(uow, "someone-else", "S-OK", "never_stopped", reviewed_by="ops", clock=CLOCK)
    with db.uow() as uow, pytest.raises(Conflict) as not_creditable:
        svc.credit_anomaly(uow, OPERATOR, "S-OPEN", "never_stopped", reviewed_by="ops", clock=CLOCK)
    assert not_creditable.value.code == "anomaly_not_creditable"
    with db.uow() as uow, pytest.raises(Conflict) as not_invoiced:
        svc.credit_anomaly(uow, OPERATOR, "S-ZERO", "charged_zero_energy", reviewed_by="ops", clock=CLOCK)
    assert not_invoiced.value.code == "session_not_invoiced"

    flat = parse_tariff({
        "id": "T1", "currency": "EUR",
        "elements": [{"price_components": [{"type": "FLAT", "price": "1.00", "vat": 19, "step_size": 1}]}],
    })  # fmt: skip
    with db.uow() as uow:
        cdr = uow.session.get(CdrRow, "CDR-S-ZERO")
        session = read_session(cdr.data)
        priced = price_session(flat, session, ZoneInfo("Europe/Berlin"))
        cdr.data = build_cdr(priced, flat, session, cdr_id=cdr.id, extra={"session_id": "S-ZERO"})
        uow.commit()
    with db.uow() as uow:
        receipt = issue_session_invoice(uow, "CDR-S-ZERO", clock=CLOCK)
        uow.commit()
    assert receipt is not None

    with db.uow() as uow:
        credited = svc.credit_anomaly(uow, OPERATOR, "S-ZERO", "charged_zero_energy", reviewed_by="ops", clock=CLOCK,
                                      note="no energy delivered")  # fmt: skip
    with db.uow() as uow:
        replay = svc.credit_anomaly(uow, OPERATOR, "S-ZERO", "charged_zero_energy", reviewed_by="ops", clock=CLOCK)
    assert (credited.status, credited.note) == ("credited", "no energy delivered")
    assert credited.credit_note is not None and credited.credit_note != receipt.invoice.number
    assert replay == credited
    with db.uow() as uow:
        engine = svc.open_engine(uow, OPERATOR, CLOCK)
        [zero] = [a for a in svc.anomalies(engine, uow, OPERATOR, Filters()) if a.session_id == "S-ZERO"]
    engine.close()
    assert (zero.review_status, zero.credit_note) == ("credited", credited.credit_note)
