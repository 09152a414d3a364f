"""The optional LLM summary: off by default, a fake provider when on, never required."""

from __future__ import annotations

import json

import pytest

from tests.fakes.http_json_server import FakeHTTPServer, Reply
from tests.reports.test_rules import END, WINDOW, inputs
from trading_core.reports.build import build_report
from trading_core.reports.llm import (
    OpenAICompatibleProvider,
    SummaryProvider,
    llm_summary,
    provider_from_env,
)
from trading_core.reports.render import markdown, to_html


class FakeProvider:
    name = "fake"

    def __init__(self, answer: str = "Equity fell 5.8 %; macd hit two stops.") -> None:
        self.answer = answer
        self.prompts: list[str] = []

    def summarize(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answer


class BrokenProvider:
    name = "broken"

    def summarize(self, prompt: str) -> str:
        raise TimeoutError("no answer in 30 s")


def test_off_by_default() -> None:
    assert provider_from_env({}) is None
    assert provider_from_env({"TRADING_REPORT_LLM_URL": "  "}) is None
    built = build_report(WINDOW, inputs(), generated_at=END, conventions="c")
    assert built.content.llm is None
    assert "LLM summary" not in markdown(built.content)
    assert "LLM summary" not in to_html(built.content)


def test_a_fake_provider_gets_the_numbers_and_the_findings() -> None:
    fake = FakeProvider()
    assert isinstance(fake, SummaryProvider)
    built = build_report(WINDOW, inputs(), generated_at=END, conventions="c", provider=fake)
    (prompt,) = fake.prompts
    assert WINDOW.describe() in prompt
    assert "drawdown stage 1" in prompt and "- pnl: -30.0" in prompt
    assert built.content.llm is not None and built.content.llm.text == fake.answer
    text = markdown(built.content)
    assert "**LLM summary** (fake" in text and fake.answer in text


def test_a_failing_or_silent_provider_leaves_a_note_not_a_failure() -> None:
    broken = llm_summary(BrokenProvider(), "p")
    assert broken is not None and broken.text is None
    assert broken.error == "TimeoutError: no answer in 30 s"
    built = build_report(
        WINDOW, inputs(), generated_at=END, conventions="c", provider=BrokenProvider()
    )
    assert "LLM summary (broken) unavailable: TimeoutError" in markdown(built.content)
    silent = llm_summary(FakeProvider(answer="   "), "p")
    assert silent is not None and silent.error == "the provider returned no text"


def test_the_openai_compatible_provider_against_a_local_server() -> None:
    answer = {"choices": [{"message": {"role": "assistant", "content": "All quiet."}}]}
    with FakeHTTPServer() as server:
        server.route("POST", "/v1/chat/completions", Reply.json(answer))
        provider = provider_from_env(
            {
                "TRADING_REPORT_LLM_URL": f"{server.url}/v1",
                "TRADING_REPORT_LLM_MODEL": "llama3",
                "TRADING_REPORT_LLM_API_KEY": "sk-secret",
            }
        )
        assert provider is not None and "sk-secret" not in repr(provider)
        summary = llm_summary(provider, "the prompt")
    assert summary is not None and summary.text == "All quiet."
    (request,) = server.requests
    body = json.loads(request.body)
    assert body == {"model": "llama3", "messages": [{"role": "user", "content": "the prompt"}]}
    assert request.headers["authorization"] == "Bearer sk-secret"


def test_a_malformed_answer_or_an_http_error_is_a_note() -> None:
    with FakeHTTPServer() as server:
        server.route("POST", "/chat/completions", Reply.json({"choices": []}))
        server.route("POST", "/down/chat/completions", Reply.json({"error": "x"}, status=503))
        odd = llm_summary(OpenAICompatibleProvider(server.url, "m"), "p")
        down = llm_summary(OpenAICompatibleProvider(f"{server.url}/down", "m"), "p")
    assert odd is not None and odd.error is not None and "unexpected answer shape" in odd.error
    assert down is not None and down.error is not None and "503" in down.error


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRADING_REPORT_LLM_URL": "ftp://x"}, "TRADING_REPORT_LLM_URL must be an http"),
        ({"TRADING_REPORT_LLM_URL": "http://127.0.0.1:1"}, "TRADING_REPORT_LLM_MODEL must name"),
    ],
)
def test_a_bad_configuration_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        provider_from_env(env)
