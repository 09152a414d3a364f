"""The Telegram bot (python-telegram-bot): status and operator commands for allow-listed
chats, and a daily summary. Alerts to Telegram are sent by the one alert module
(``executor.alerts``), not by this process, so they reach Telegram even when the bot is down.
Run it with ``python -m trading_pipelines.telegram_bot``."""
