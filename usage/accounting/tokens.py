"""Offline tokenizers: tiktoken with encoding files shipped by a registry package.

tiktoken downloads ``<name>.tiktoken`` from openaipublic.blob.core.windows.net unless a file
named by the sha1 of that URL is in ``TIKTOKEN_CACHE_DIR``. We never let it: before the first
encoding is built, ``tiktoken_cache_seed`` copies the gzipped files that the ``bpe-openai``
wheel installs (``bpe_openai/data/*.tiktoken.gz``) into the cache directory, after checking
their sha256 against the published hashes. If a file is missing or wrong we raise a clear
error instead of letting tiktoken reach for the network.
"""

import functools
import gzip
import hashlib
import os
import re
import threading
from importlib import resources
from pathlib import Path

import tiktoken

# name -> (URL tiktoken would download, published sha256 of the uncompressed file)
ENCODING_FILES: dict[str, tuple[str, str]] = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

_O200K_MODELS = re.compile(r"^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-image|gpt-oss|o1|o3|o4)")
_CL100K_MODELS = re.compile(r"^(gpt-35|gpt-3\.5|gpt-4|text-embedding|ada|davinci|babbage)")

_lock = threading.Lock()


class TokenizerUnavailable(RuntimeError):
    """The encoding file is not installed (or does not match its published hash)."""


def tiktoken_cache_dir() -> Path:
    from django.conf import settings

    return Path(getattr(settings, "TIKTOKEN_CACHE_DIR", "") or Path.cwd() / ".cache" / "tiktoken")


def _cache_key(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()


def _shipped_bytes(name: str) -> bytes:
    try:
        packed = resources.files("bpe_openai.data").joinpath(f"{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TokenizerUnavailable(f"{name}: bpe-openai is not installed with its data files") from exc
    return gzip.decompress(packed)


def tiktoken_cache_seed(*, cache_dir: Path | None = None) -> Path:
    """Put verified encoding files where tiktoken looks for them; returns the directory.

    Idempotent: a file already there with the right sha256 is left alone; a wrong one is
    replaced from the package.
    """
    directory = cache_dir or tiktoken_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for name, (url, sha256) in ENCODING_FILES.items():
        target = directory / _cache_key(url)
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            continue
        data = _shipped_bytes(name)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise TokenizerUnavailable(f"{name}: shipped file does not match its published sha256 {sha256}")
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return directory


@functools.cache
def encoding_get(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding ``name``, built from the seeded cache only (never downloaded)."""
    if name not in ENCODING_FILES:
        raise TokenizerUnavailable(f"unknown encoding {name!r}")
    with _lock:
        directory = tiktoken_cache_seed()
        # tiktoken reads the cache directory from the environment at load time.
        os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
        return tiktoken.get_encoding(name)


def tokenizers_load() -> None:
    """Build every encoding now (each takes a noticeable part of a second), not in the first
    request that counts tokens."""
    for name in ENCODING_FILES:
        encoding_get(name)


@functools.lru_cache(maxsize=1024)  # a few model names, looked up on every count
def encoding_name_for_model(model: str) -> str:
    """o200k_base for gpt-4o / 4.1 / 5 / o-series, cl100k_base for gpt-35 / gpt-4 / embeddings."""
    name = (model or "").strip().lower()
    if _O200K_MODELS.match(name):
        return "o200k_base"
    if _CL100K_MODELS.match(name):
        return "cl100k_base"
    return "o200k_base"  # current Azure OpenAI models; unknown names are estimates anyway


def tokens_count(text: str, *, model: str) -> int:
    """Number of tokens of ``text`` in the encoding of ``model`` (special tokens as text)."""
    if not text:
        return 0
    return len(encoding_get(encoding_name_for_model(model)).encode_ordinary(text))
