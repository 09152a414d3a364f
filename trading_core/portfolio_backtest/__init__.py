"""The portfolio backtest: every strategy instance of a configuration, shared cash, and the
risk protocol on (``trading backtest --config FILE --data-dir DIR``)."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trading_core.portfolio_backtest.engine import PortfolioRun, run_portfolio
    from trading_core.portfolio_backtest.report import build_report

__all__ = ["PortfolioRun", "build_report", "run_portfolio"]


def __getattr__(name: str) -> Any:
    # Lazy: ``trading sweep`` registers ``backtest --config`` (``.command``) without paying
    # for the engine's imports (the executor ledger, SQLAlchemy).
    if name in ("PortfolioRun", "run_portfolio"):
        from trading_core.portfolio_backtest import engine

        return getattr(engine, name)
    if name == "build_report":
        from trading_core.portfolio_backtest.report import build_report

        return build_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
