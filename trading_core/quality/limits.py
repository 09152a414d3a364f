"""The default limits of the gap policy (``gap_policy``) and the spike hold
(``spike_policy``), in a module of their own without pandas: the configuration's defaults
(``market.*``) import them, and every process imports the configuration at start."""

# gap policy: a gap blocks its day above either limit (shorter ones are a WARN)
DEFAULT_MAX_GAP_CANDLES = 12  # the longest run of missing candles
DEFAULT_MAX_GAP_RATIO = 0.5  # the share of one UTC day's candles missing

# spike hold
DEFAULT_MAX_ABS_LOG_MOVE = 0.25
DEFAULT_CONFIRM_BARS = 2
MAX_CONFIRM_BARS = 100  # market.spike_confirm_bars: 1..100
DEFAULT_MAX_VENUE_LOG_DIFF = 0.05
