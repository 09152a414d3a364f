"""Research on top of the backtester: overfitting statistics, Monte Carlo of bar returns,
period breakdowns, and the Markdown reports of ``trading optimise | walk-forward |
monte-carlo``. Modules are imported where used (scipy and matplotlib load only then)."""
