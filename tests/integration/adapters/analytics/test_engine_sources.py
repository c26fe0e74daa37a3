from dataclasses import asdict

from analytics_data import NOW

from voltbill.adapters.analytics.anomalies import find_anomalies
from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters
from voltbill.adapters.analytics.peaks import peak_hours
from voltbill.adapters.analytics.placement import location_demand
from voltbill.adapters.analytics.revenue import revenue
from voltbill.adapters.analytics.usage import usage


def rounded(rows: list) -> list[dict]:
    """Rows as dicts with floats to 6 digits (parallel float sums of spread energy may differ in the last bit)."""
    return [{k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(row).items()} for row in rows]


def test_a_parquet_export_answers_like_the_arrow_tables(clean_input, engine_for, tmp_path) -> None:
    written = clean_input.write_parquet(tmp_path)
    assert sorted(p.name for p in written) == [
        "evses.parquet", "locations.parquet", "refused_starts.parquet", "sessions.parquet", "status_events.parquet"
    ]  # fmt: skip
    from_arrow = engine_for(clean_input)
    from_parquet = AnalyticsEngine.from_parquet(tmp_path, now=NOW)
    try:
        for query in (
            lambda e: revenue(e, Filters(), period="month", by="location"),
            lambda e: usage(e, Filters(), by="evse"),
            lambda e: peak_hours(e, Filters(), per_location=True),
            lambda e: location_demand(e, Filters()),
            lambda e: find_anomalies(e, Filters()),
        ):
            assert rounded(query(from_parquet)) == rounded(query(from_arrow))
    finally:
        from_parquet.close()


def test_a_missing_parquet_file_is_an_empty_table(tmp_path) -> None:
    engine = AnalyticsEngine.from_parquet(tmp_path, now=NOW)
    try:
        assert revenue(engine, Filters()) == []
        assert location_demand(engine, Filters()) == []
    finally:
        engine.close()
