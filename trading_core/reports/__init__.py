"""Trading reports (daily, weekly, monthly): pure code, no Dagster.

- ``window``: the period a report covers (UTC, half-open ``[start, end)``);
- ``chart_data``: the frames behind every chart (equity and drawdown, P&L per day and per
  instance), validated;
- ``rules``: the plain-language summary and recommendations, written from the numbers;
- ``llm``: an optional LLM summary behind a provider-agnostic Protocol (off by default);
- ``charts``: matplotlib PNGs of the chart data;
- ``render``: the report as Markdown and as self-contained HTML.
"""
