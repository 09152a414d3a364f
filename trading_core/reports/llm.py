"""An optional LLM-written summary of a report, behind a provider-agnostic interface.

Off by default: with no provider the report has only the rule-written summary. A provider is
anything with ``name`` and ``summarize(prompt) -> str`` (:class:`SummaryProvider`); the
report never depends on it: a provider that fails, times out or answers nothing leaves a note
in the report instead of the summary. The prompt holds the numbers and the rules' findings,
never a secret. :class:`OpenAICompatibleProvider` speaks the ``/chat/completions`` API that
OpenAI, Ollama, vLLM and llama.cpp servers share; it is configured from the environment by
:func:`provider_from_env` (nothing set: no provider)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from trading_core.reports.rules import Finding

ENV_URL = "TRADING_REPORT_LLM_URL"
ENV_MODEL = "TRADING_REPORT_LLM_MODEL"
ENV_KEY = "TRADING_REPORT_LLM_API_KEY"  # secret: never logged or written to the report
MAX_SUMMARY_CHARS = 4000


@runtime_checkable
class SummaryProvider(Protocol):
    name: str

    def summarize(self, prompt: str) -> str: ...


@dataclass(frozen=True)
class LlmSummary:
    provider: str
    text: str | None  # None when the provider failed
    error: str | None = None


def prompt_for(window_text: str, numbers: Mapping[str, object], found: Sequence[Finding]) -> str:
    lines = [
        "Write a short plain-language summary (at most 5 sentences) of this trading report "
        "for its owner. Use only the numbers given; do not invent any; say what happened and "
        "what needs attention.",
        f"Window: {window_text}",
        "Numbers:",
        *(f"- {key}: {value}" for key, value in numbers.items()),
        "Findings of the report's rules:",
        *(f"- [{f.level}] {f.text}" for f in found),
    ]
    return "\n".join(lines)


def llm_summary(provider: SummaryProvider | None, prompt: str) -> LlmSummary | None:
    """The provider's summary, or None when there is no provider (the default)."""
    if provider is None:
        return None
    name = str(getattr(provider, "name", type(provider).__name__))
    try:
        text = provider.summarize(prompt)
    except Exception as exc:  # an optional extra must never fail the report
        return LlmSummary(name, None, f"{type(exc).__name__}: {str(exc)[:200]}")
    if not isinstance(text, str) or not text.strip():
        return LlmSummary(name, None, "the provider returned no text")
    return LlmSummary(name, text.strip()[:MAX_SUMMARY_CHARS])


class OpenAICompatibleProvider:
    """``POST {base_url}/chat/completions`` with one user message; the first choice's text."""

    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, *, timeout: float = 30.0
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{ENV_URL} must be an http(s) URL, got {base_url!r}")
        if not model.strip():
            raise ValueError(f"{ENV_MODEL} must name a model")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai-compatible {model}"
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:  # keeps the key out of logs
        return f"OpenAICompatibleProvider({self.base_url!r}, {self.model!r})"

    def summarize(self, prompt: str) -> str:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        response = httpx.post(
            f"{self.base_url}/chat/completions",
            json={"model": self.model, "messages": [{"role": "user", "content": prompt}]},
            headers=headers,
            timeout=self.timeout,
        )
        response.raise_for_status()
        body = response.json()
        try:
            return str(body["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"unexpected answer shape: {str(body)[:200]}") from exc


def provider_from_env(env: Mapping[str, str] | None = None) -> SummaryProvider | None:
    """The provider the environment configures, or None (``TRADING_REPORT_LLM_URL`` unset)."""
    env = os.environ if env is None else env
    url = env.get(ENV_URL, "").strip()
    if not url:
        return None
    return OpenAICompatibleProvider(url, env.get(ENV_MODEL, ""), env.get(ENV_KEY) or None)
