"""Offline tokenizers: seeded from the bpe-openai wheel, sha256-checked, never downloaded."""

import hashlib
import socket

import bpe_openai
import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry

from usage.accounting import tokens

# Published examples (OpenAI cookbook "How to count tokens with tiktoken") plus a few of ours.
PINNED = [
    ("tiktoken is great!", 6, 6),
    ("antidisestablishmentarianism", 6, 6),
    ("2 + 2 = 4", 7, 7),
    ("お誕生日おめでとう", 9, 8),
    ("Grüße aus München 🙂", 6, 6),
    ("Привет, как дела?", 8, 6),
    ("    def f(x):\n        return x  # comment", 11, 11),
]


@pytest.fixture
def offline(monkeypatch, tmp_path, settings):
    """A fresh, empty cache directory and no way out: every download or socket fails."""

    def refuse(*args, **kwargs):
        raise AssertionError("tiktoken tried to download")

    def no_socket(*args, **kwargs):
        raise AssertionError("network access attempted")

    settings.TIKTOKEN_CACHE_DIR = str(tmp_path / "tiktoken")
    monkeypatch.setattr(tiktoken.load, "read_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", no_socket)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    tokens.encoding_get.cache_clear()
    yield tmp_path / "tiktoken"
    tokens.encoding_get.cache_clear()


@pytest.mark.parametrize(("text", "cl100k", "o200k"), PINNED, ids=[p[0][:20] for p in PINNED])
def test_it_counts_known_strings_exactly_in_both_encodings_offline(offline, text, cl100k, o200k):
    assert tokens.tokens_count(text, model="gpt-35-turbo") == cl100k
    assert tokens.tokens_count(text, model="gpt-4o") == o200k
    # An independent implementation (the bpe-openai Rust tokenizer) agrees.
    assert len(bpe_openai.get_encoding("cl100k_base").encode(text)) == cl100k
    assert len(bpe_openai.get_encoding("o200k_base").encode(text)) == o200k


def test_it_seeds_the_cache_with_files_named_as_tiktoken_expects(offline):
    tokens.tokens_count("hello", model="gpt-4")
    for url, sha256 in tokens.ENCODING_FILES.values():
        path = offline / hashlib.sha1(url.encode()).hexdigest()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def test_it_replaces_a_corrupted_cache_file_before_tiktoken_reads_it(offline):
    url, sha256 = tokens.ENCODING_FILES["o200k_base"]
    offline.mkdir(parents=True)
    path = offline / hashlib.sha1(url.encode()).hexdigest()
    path.write_bytes(b"tampered")
    assert tokens.tokens_count("hello world", model="gpt-4o") == 2
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def test_it_refuses_a_shipped_file_that_does_not_match_its_hash(offline, monkeypatch):
    monkeypatch.setattr(tokens, "_shipped_bytes", lambda name: b"not the real file")
    with pytest.raises(tokens.TokenizerUnavailable, match="sha256"):
        tokens.tiktoken_cache_seed()


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-4-32k", "cl100k_base"),
        ("text-embedding-3-large", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
    ],
)
def test_it_picks_the_encoding_of_each_model_family(model, encoding):
    assert tokens.encoding_name_for_model(model) == encoding


def test_a_starting_worker_builds_every_encoding_before_its_first_task(offline):
    from celery.signals import worker_init

    from usage.tasks import _tokenizers_load

    assert _tokenizers_load in worker_init._live_receivers(sender=None)
    assert tokens.encoding_get.cache_info().currsize == 0
    _tokenizers_load()
    assert tokens.encoding_get.cache_info().currsize == len(tokens.ENCODING_FILES)
    assert tokens.tokens_count("hello world", model="gpt-4o") == 2
