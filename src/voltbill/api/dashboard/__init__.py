"""Operator dashboard and driver pages (server-rendered Jinja2, charts drawn by the vendored ECharts)."""
