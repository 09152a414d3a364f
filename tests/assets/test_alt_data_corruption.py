"""Issue 18, social/news/on-chain: real files from ../shared/data, corrupted inside each test,
fed through the real ingest assets (assets/ingest/alt_data.py) into a scratch warehouse.
Nothing may be lost silently: each corruption lands in raw.quarantine with its reason and
trips the check named for it, while the file's good records are stored."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.ingest.alt_data import SOURCES, build_alt_asset
from tests.assets.conftest import run, table
from trading_core.config import NewsConfig, OnchainConfig, SocialConfig
from trading_core.onchain import ReplayOnchain
from trading_core.quality.alt_records import MAX_TEXT_CHARS, Horizon
from trading_core.social.reddit import ReplayReddit
from trading_pipelines.resources.alt_data import NewsResource, OnchainResource, SocialResource

REDDIT = "social/reddit_crypto_posts_20251029.jsonl"
TWEETS = "social/tweets_crypto_2021.jsonl"
FEED = "news/cointelegraph_20260215.xml"
HASH_RATE = "onchain/blockchaincom_btc_hash_rate.csv"
UNI = "onchain/coinmetrics_UNI_1d.csv"
BY_TABLE = {source.table: source for source in SOURCES}


def asset_for(table_name: str, first_day: str) -> dg.AssetsDefinition:
    days = dg.DailyPartitionsDefinition(start_date=first_day, end_offset=1)
    return build_alt_asset(BY_TABLE[table_name], days)


def resources(warehouse, tmp_path: Path, **sections) -> dict[str, object]:
    samples = str(tmp_path / "samples")
    return {
        "warehouse": warehouse,
        "social": SocialResource.from_config(
            sections.get("social", SocialConfig()), samples_root=samples
        ),
        "news": NewsResource.from_config(sections.get("news", NewsConfig()), samples_root=samples),
        "onchain": OnchainResource.from_config(
            sections.get("onchain", OnchainConfig()), samples_root=samples
        ),
    }


def social_dir(tmp_path: Path, name: str, lines: list[str]) -> SocialConfig:
    folder = tmp_path / "social"
    folder.mkdir(exist_ok=True)
    (folder / Path(name).name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return SocialConfig(replay_dir=folder)


def onchain_dir(tmp_path: Path, files: dict[str, str], metrics: list[str]) -> OnchainConfig:
    folder = tmp_path / "onchain"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / Path(name).name).write_text(text, encoding="utf-8")
    return OnchainConfig(replay_dir=folder, metrics=metrics)


def quarantine(home: Path) -> pd.DataFrame:
    frame = table(home / "warehouse.duckdb", "select * from raw.quarantine order by payload")
    frame["origin"] = [json.loads(p)["origin"] for p in frame["payload"]]
    return frame


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def reddit_lines(shared_data: Path) -> list[str]:
    return (shared_data / REDDIT).read_text(encoding="utf-8").splitlines()


def reddit_day(line: str) -> str:
    """The UTC day of a shared-scrape post (created_local is UTC+1), via the real backend."""
    record = json.loads(line)
    result = ReplayReddit(_one_line_file(line)).fetch_posts("2000-01-01", "2100-01-01")
    [published] = result.frame.loc[result.frame["post_id"] == record["post_id"], "published_at"]
    return published.date().isoformat()


def _one_line_file(line: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    (folder / "reddit_one.jsonl").write_text(line + "\n", encoding="utf-8")
    return folder


def stored_reddit_ids(home: Path) -> list[str]:
    return table(home / "warehouse.duckdb", "select post_id from raw.reddit_posts")[
        "post_id"
    ].tolist()


# --- conflicting duplicates: every version kept in quarantine, none stored ------------------


def test_a_reddit_post_id_with_two_contents_keeps_both_in_quarantine(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    lines = reddit_lines(shared_data)
    original = json.loads(lines[0])
    other = dict(original, title="The More You Know (edited to say something else)")
    day = reddit_day(lines[0])
    config = social_dir(tmp_path, REDDIT, [*lines, json.dumps(other)])
    asset = asset_for("raw.reddit_posts", "2025-09-01")

    result = run(asset, resources(warehouse, tmp_path, social=config), [day])

    assert result.success
    assert checks(result)["no_conflicting_duplicates"] is False
    assert checks(result)["unique_ids"] is True
    assert original["post_id"] not in stored_reddit_ids(trading_home)
    rejected = quarantine(trading_home)
    both = rejected[rejected["reason"].str.startswith("conflicting duplicate: post_id=1ntu37b")]
    assert len(both) == 2 and "differing in title" in both["reason"].iloc[0]
    titles = {json.loads(p)["record"]["title"] for p in both["payload"]}
    assert titles == {original["title"], other["title"]}
    # the same day re-run on the uncorrupted file stores the post and empties its quarantine
    clean = social_dir(tmp_path, REDDIT, lines)
    assert run(asset, resources(warehouse, tmp_path, social=clean), [day]).success
    assert original["post_id"] in stored_reddit_ids(trading_home)
    assert quarantine(trading_home).empty


def test_a_reddit_post_read_again_with_new_counters_is_one_post_not_a_conflict(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    lines = reddit_lines(shared_data)
    original = json.loads(lines[0])
    later = dict(original, score=original["score"] + 40, num_comments=original["num_comments"] + 3)
    config = social_dir(tmp_path, REDDIT, [*lines, json.dumps(later)])
    result = run(
        asset_for("raw.reddit_posts", "2025-09-01"),
        resources(warehouse, tmp_path, social=config),
        [reddit_day(lines[0])],
    )
    assert result.success and checks(result)["no_conflicting_duplicates"] is True
    stored = table(
        trading_home / "warehouse.duckdb",
        f"select score from raw.reddit_posts where post_id = '{original['post_id']}'",
    )
    assert stored["score"].tolist() == [later["score"]]


def test_an_rss_guid_with_two_contents_keeps_both_in_quarantine(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    xml = (shared_data / FEED).read_text(encoding="utf-8")
    first_item = re.search(r"<item>.*?</item>", xml, re.S).group(0)
    changed = first_item.replace("classic capitulation signal", "classic recovery signal")
    corrupted = xml.replace("</channel>", changed + "\n</channel>")
    path = tmp_path / "cointelegraph.xml"
    path.write_text(corrupted, encoding="utf-8")
    news = NewsConfig(feeds=[str(path)])

    result = run(
        asset_for("raw.news_items", "2026-01-01"),
        resources(warehouse, tmp_path, news=news),
        ["2026-02-14"],
    )

    assert result.success and checks(result)["no_conflicting_duplicates"] is False
    items = table(trading_home / "warehouse.duckdb", "select title from raw.news_items")
    assert not items["title"].str.contains("capitulation|recovery signal").any()
    assert len(items) > 0
    rejected = quarantine(trading_home)
    versions = rejected[rejected["reason"].str.startswith("conflicting duplicate: item_id=")]
    assert len(versions) == 2
    assert {json.loads(p)["record"]["title"].split("'")[1] for p in versions["payload"]} == {
        "classic capitulation signal",
        "classic recovery signal",
    }


def test_a_negative_hash_rate_beside_a_later_9_quarantines_both(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    lines = (shared_data / HASH_RATE).read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(lines) if line.startswith("2024-01-"))
    stamp = lines[target].split(",")[0]
    lines[target] = f"{stamp},-5"
    lines.append(f"{stamp},9")
    config = onchain_dir(tmp_path, {HASH_RATE: "\n".join(lines) + "\n"}, ["hash_rate"])
    day = stamp[:10]

    result = run(
        asset_for("raw.onchain_metrics", "2009-01-01"),
        resources(warehouse, tmp_path, onchain=config),
        [day],
    )

    assert result.success and checks(result)["no_conflicting_duplicates"] is False
    stored = table(trading_home / "warehouse.duckdb", "select * from raw.onchain_metrics")
    assert stored.empty  # the day's only value had two versions: neither is stored
    rejected = quarantine(trading_home)
    assert len(rejected) == 2
    assert set(rejected["origin"]) == {
        f"blockchaincom_btc_hash_rate.csv:{target + 1} (version 1 of 2)",
        f"blockchaincom_btc_hash_rate.csv:{len(lines)} (version 2 of 2)",
    }
    assert {json.loads(p)["record"]["value"] for p in rejected["payload"]} == {-5.0, 9.0}


# --- negative on-chain values ----------------------------------------------------------


def test_a_negative_hash_rate_is_quarantined_and_its_neighbours_stored(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    lines = (shared_data / HASH_RATE).read_text(encoding="utf-8").splitlines()
    targets = [i for i, line in enumerate(lines) if line.startswith("2024-01-")]
    stamp = lines[targets[0]].split(",")[0]
    lines[targets[0]] = f"{stamp},-5"
    config = onchain_dir(tmp_path, {HASH_RATE: "\n".join(lines) + "\n"}, ["hash_rate"])

    result = run(
        asset_for("raw.onchain_metrics", "2009-01-01"),
        resources(warehouse, tmp_path, onchain=config),
        ["2024-01-01", "2024-01-31"],
    )

    assert result.success and checks(result)["values_in_domain"] is False
    stored = table(trading_home / "warehouse.duckdb", "select ts, value from raw.onchain_metrics")
    assert len(stored) == len(targets) - 1 and (stored["value"] > 0).all()
    [reason] = quarantine(trading_home)["reason"]
    assert reason == "negative value: hash_rate = -5.0, and hash_rate cannot be negative"


def test_a_negative_30_day_return_is_a_real_value_and_stored(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    text = (shared_data / UNI).read_text(encoding="utf-8")
    full = ReplayOnchain(shared_data / "onchain", metrics=["ROI30d"], assets=["UNI"])
    values = full.fetch_metrics("2020-01-01", "2023-01-01").frame
    negative = values[values["value"] < 0].iloc[0]
    day = negative["ts"].date().isoformat()
    config = onchain_dir(tmp_path, {UNI: text}, ["ROI30d"])

    result = run(
        asset_for("raw.onchain_metrics", "2020-01-01"),
        resources(warehouse, tmp_path, onchain=config),
        [day],
    )

    assert result.success and checks(result)["values_in_domain"] is True
    stored = table(trading_home / "warehouse.duckdb", "select value from raw.onchain_metrics")
    assert stored["value"].tolist() == [negative["value"]]


# --- records outside every partition ----------------------------------------------------


@pytest.mark.parametrize("when", ["2999-01-01T12:00:00", "2019-06-01T12:00:00"])
def test_a_post_dated_outside_every_partition_is_quarantined_by_any_run(
    trading_home, warehouse, tmp_path, shared_data, when
) -> None:
    lines = reddit_lines(shared_data)
    stray = dict(json.loads(lines[5]), post_id="zz_stray", created_local=when)
    config = social_dir(tmp_path, REDDIT, [*lines, json.dumps(stray)])
    day = reddit_day(lines[0])

    result = run(
        asset_for("raw.reddit_posts", "2025-01-01"),
        resources(warehouse, tmp_path, social=config),
        [day],
    )

    assert result.success and checks(result)["event_times_in_partitions"] is False
    assert checks(result)["event_times_valid"] is True
    [row] = quarantine(trading_home).itertuples()
    assert row.reason.startswith(f"outside every partition: published_at {when[:4]}")
    assert row.origin == f"{Path(REDDIT).name}:{len(lines) + 1}"
    assert row.partition_key == day
    assert "zz_stray" not in stored_reddit_ids(trading_home)


def test_a_tweet_dated_2999_is_quarantined(trading_home, warehouse, tmp_path, shared_data) -> None:
    lines = (shared_data / TWEETS).read_text(encoding="utf-8").splitlines()
    stray = dict(json.loads(lines[0]), created_at="2999-02-05T17:29:43")
    config = social_dir(tmp_path, TWEETS, [*lines, json.dumps(stray)])

    result = run(
        asset_for("raw.x_posts", "2021-01-01"),
        resources(warehouse, tmp_path, social=config),
        ["2021-02-05"],
    )

    assert result.success and checks(result)["event_times_in_partitions"] is False
    [reason] = quarantine(trading_home)["reason"]
    assert "2999-02-05T17:29:43 is after now + clock skew" in reason
    stored = table(trading_home / "warehouse.duckdb", "select count(*) as n from raw.x_posts")
    assert stored["n"][0] >= 1


def test_an_on_chain_value_dated_2999_is_quarantined(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    text = (shared_data / HASH_RATE).read_text(encoding="utf-8") + "2999-01-01T00:00:00Z,123.0\n"
    config = onchain_dir(tmp_path, {HASH_RATE: text}, ["hash_rate"])
    result = run(
        asset_for("raw.onchain_metrics", "2009-01-01"),
        resources(warehouse, tmp_path, onchain=config),
        ["2024-01-01", "2024-01-31"],
    )
    assert result.success and checks(result)["event_times_in_partitions"] is False
    [reason] = quarantine(trading_home)["reason"]
    assert reason.startswith("outside every partition: ts 2999-01-01T00:00:00")


# --- one malformed line: quarantined alone, the rest stored --------------------------------


def test_an_on_chain_line_with_an_extra_comma_is_quarantined_alone(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    lines = (shared_data / HASH_RATE).read_text(encoding="utf-8").splitlines()
    targets = [i for i, line in enumerate(lines) if line.startswith("2024-01-")]
    lines[targets[1]] += ",7"
    config = onchain_dir(tmp_path, {HASH_RATE: "\n".join(lines) + "\n"}, ["hash_rate"])

    result = run(
        asset_for("raw.onchain_metrics", "2009-01-01"),
        resources(warehouse, tmp_path, onchain=config),
        ["2024-01-01", "2024-01-31"],
    )

    assert result.success and checks(result)["lines_parsed"] is False
    stored = table(trading_home / "warehouse.duckdb", "select * from raw.onchain_metrics")
    assert len(stored) == len(targets) - 1
    [row] = quarantine(trading_home).itertuples()
    assert row.reason == "malformed line: expected 2 fields (timestamp,hash_rate), got 3"
    assert row.origin == f"blockchaincom_btc_hash_rate.csv:{targets[1] + 1}"


def test_a_truncated_reddit_line_is_quarantined_alone(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    lines = reddit_lines(shared_data)
    day = reddit_day(lines[0])
    lines[0] = lines[0][: len(lines[0]) // 2]
    config = social_dir(tmp_path, REDDIT, lines)
    result = run(
        asset_for("raw.reddit_posts", "2025-09-01"),
        resources(warehouse, tmp_path, social=config),
        [day],
    )
    assert result.success and checks(result)["lines_parsed"] is False
    [row] = quarantine(trading_home).itertuples()
    assert row.reason.startswith("invalid JSON") and row.origin == f"{Path(REDDIT).name}:1"
    assert len(stored_reddit_ids(trading_home)) > 0


def test_an_unreadable_on_chain_file_is_refused_alone(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    good = (shared_data / HASH_RATE).read_text(encoding="utf-8")
    files = {HASH_RATE: good, "onchain/blockchaincom_btc_n_transactions.csv": ""}
    config = onchain_dir(tmp_path, files, ["hash_rate", "n_transactions"])
    result = run(
        asset_for("raw.onchain_metrics", "2009-01-01"),
        resources(warehouse, tmp_path, onchain=config),
        ["2024-01-01", "2024-01-31"],
    )
    assert result.success and checks(result)["lines_parsed"] is False
    [row] = quarantine(trading_home).itertuples()
    assert row.reason == "unreadable file: no header line"
    assert row.origin == "blockchaincom_btc_n_transactions.csv"
    metrics = table(
        trading_home / "warehouse.duckdb", "select distinct metric from raw.onchain_metrics"
    )
    assert metrics["metric"].tolist() == ["hash_rate"]


# --- text size limit ---------------------------------------------------------------------------


def test_a_3_mb_reddit_post_is_quarantined_with_a_clipped_payload(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    lines = reddit_lines(shared_data)
    day = reddit_day(lines[0])
    record = json.loads(lines[0])
    lines[0] = json.dumps(dict(record, selftext="moon " * 600_000))
    config = social_dir(tmp_path, REDDIT, lines)

    result = run(
        asset_for("raw.reddit_posts", "2025-09-01"),
        resources(warehouse, tmp_path, social=config),
        [day],
    )

    assert result.success and checks(result)["text_within_limit"] is False
    [row] = quarantine(trading_home).itertuples()
    assert row.reason == (
        f"text too long: selftext has 3,000,000 characters (limit {MAX_TEXT_CHARS:,} per field)"
    )
    assert len(row.payload) < 10_000 and "3,000,000 characters in all" in row.payload
    assert record["post_id"] not in stored_reddit_ids(trading_home)
    assert len(stored_reddit_ids(trading_home)) > 0


def test_a_3_mb_news_summary_is_quarantined(trading_home, warehouse, tmp_path, shared_data) -> None:
    xml = (shared_data / FEED).read_text(encoding="utf-8")
    huge = "The total memecoin market " + "capitalization " * 200_000
    path = tmp_path / "feed.xml"
    path.write_text(xml.replace("The total memecoin market", huge, 1), encoding="utf-8")
    result = run(
        asset_for("raw.news_items", "2026-01-01"),
        resources(warehouse, tmp_path, news=NewsConfig(feeds=[str(path)])),
        ["2026-02-14"],
    )
    assert result.success and checks(result)["text_within_limit"] is False
    [reason] = quarantine(trading_home)["reason"]
    assert reason.startswith("text too long: summary has 3,")


def test_a_clean_run_passes_every_reason_check(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    config = social_dir(tmp_path, REDDIT, reddit_lines(shared_data))
    result = run(
        asset_for("raw.reddit_posts", "2025-09-01"),
        resources(warehouse, tmp_path, social=config),
        ["2025-10-10"],
    )
    assert result.success and all(checks(result).values())
    assert quarantine(trading_home).empty and len(stored_reddit_ids(trading_home)) > 0


def test_a_horizon_refuses_to_be_empty() -> None:
    now = pd.Timestamp("2026-01-01").to_pydatetime()
    with pytest.raises(ValueError, match="horizon: first"):
        Horizon.from_now(now, now - timedelta(days=1), timedelta(minutes=5))


def test_an_x_post_id_with_two_texts_keeps_both_in_quarantine(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    lines = (shared_data / TWEETS).read_text(encoding="utf-8").splitlines()
    first = dict(json.loads(lines[0]), id="1357725513473658881")
    second = dict(first, text=first["text"].replace("Travala", "another firm"))
    config = social_dir(tmp_path, TWEETS, [json.dumps(first), *lines[1:], json.dumps(second)])
    result = run(
        asset_for("raw.x_posts", "2021-01-01"),
        resources(warehouse, tmp_path, social=config),
        ["2021-02-05"],
    )
    assert result.success and checks(result)["no_conflicting_duplicates"] is False
    stored = table(trading_home / "warehouse.duckdb", "select post_id from raw.x_posts")
    assert first["id"] not in stored["post_id"].tolist()
    versions = quarantine(trading_home)
    assert len(versions) == 2
    assert versions["reason"].str.contains("post_id=1357725513473658881 has 2 versions").all()


def test_a_feed_item_broken_by_a_bad_tag_is_quarantined_alone(
    trading_home, warehouse, tmp_path, shared_data
) -> None:
    xml = (shared_data / FEED).read_text(encoding="utf-8")
    items = re.findall(r"<item>.*?</item>", xml, re.S)
    path = tmp_path / "feed.xml"
    path.write_text(xml.replace(items[2], items[2].replace("</title>", "", 1)), encoding="utf-8")
    news = NewsConfig(feeds=[str(path)])
    result = run(
        asset_for("raw.news_items", "2026-01-01"),
        resources(warehouse, tmp_path, news=news),
        ["2026-02-14"],
    )
    assert result.success and checks(result)["lines_parsed"] is False
    [row] = quarantine(trading_home).itertuples()
    assert row.reason.startswith("malformed entry: neither title nor description")
    assert "mismatched tag" in row.reason and row.origin == f"{path}#entry3"
    titles = table(trading_home / "warehouse.duckdb", "select title from raw.news_items")["title"]
    assert titles.notna().all() and len(titles) > 0
