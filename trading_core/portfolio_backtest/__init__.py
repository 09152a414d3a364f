"""The portfolio backtest: every strategy instance of a configuration, shared cash, and the
risk protocol on (``trading backtest --config FILE --data-dir DIR``)."""

from trading_core.portfolio_backtest.engine import PortfolioRun, run_portfolio
from trading_core.portfolio_backtest.report import build_report

__all__ = ["PortfolioRun", "build_report", "run_portfolio"]
