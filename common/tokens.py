"""Platform tokens at rest: Fernet ciphertext only, keys from TOKEN_ENCRYPTION_KEY (rotatable).

The first key encrypts; every key decrypts (MultiFernet), so a new key is rolled out by putting
it first and keeping the old one until `rotate` has re-encrypted every stored token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from common.config import Settings, is_fernet_key

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet


class TokenKeyError(RuntimeError):
    """The encryption key is missing, malformed, or does not open a stored token.

    The message names the problem and never the token or the key.
    """


class MissingKeyError(TokenKeyError):
    """No TOKEN_ENCRYPTION_KEY is configured: a configuration problem, not the account's."""


class TokenCipher:
    """Keys are checked when given; a missing key is reported when a token is needed, so
    work that needs no token (an empty tick, `status`) runs without one.

    The cryptography package loads when the first token is sealed or opened, not with the
    cipher: the run function builds one on every cold start, and a tick with nothing due opens
    no token (a cold start spends its CPU on imports)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        for position, key in enumerate(keys, start=1):
            if not is_fernet_key(key):  # the check Fernet itself makes
                raise TokenKeyError(
                    f"TOKEN_ENCRYPTION_KEY entry {position} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                )
        self._key_list = keys
        self._cipher: MultiFernet | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        return cls(settings.token_encryption_keys)

    def _keys(self) -> MultiFernet:
        if not self._key_list:
            raise MissingKeyError(
                "TOKEN_ENCRYPTION_KEY is not set; generate one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            )
        if self._cipher is None:  # two threads may both build it: the same cipher either way
            from cryptography.fernet import Fernet, MultiFernet

            self._cipher = MultiFernet([Fernet(key.encode()) for key in self._key_list])
        return self._cipher

    def encrypt(self, token: str) -> str:
        return self._keys().encrypt(token.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        return self._open(
            ciphertext,
            lambda keys, data: keys.decrypt(data),
            "stored token cannot be decrypted with TOKEN_ENCRYPTION_KEY "
            "(wrong key, or its key was rotated out)",
        )

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (for key rotation)."""
        return self._open(
            ciphertext,
            lambda keys, data: keys.rotate(data),
            "stored token cannot be decrypted with TOKEN_ENCRYPTION_KEY",
        )

    def _open(
        self, ciphertext: str, use: Callable[[MultiFernet, bytes], bytes], problem: str
    ) -> str:
        keys = self._keys()
        from cryptography.fernet import InvalidToken  # _keys has loaded it

        try:
            return use(keys, ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise TokenKeyError(problem) from exc
