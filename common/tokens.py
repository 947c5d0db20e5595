"""Platform tokens at rest: Fernet ciphertext only, keys from TOKEN_ENCRYPTION_KEY (rotatable).

The first key encrypts; every key decrypts (MultiFernet), so a new key is rolled out by putting
it first and keeping the old one until `rotate` has re-encrypted every stored token.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from common.config import Settings


class TokenKeyError(RuntimeError):
    """The encryption key is missing, malformed, or does not open a stored token.

    The message names the problem and never the token or the key.
    """


class MissingKeyError(TokenKeyError):
    """No TOKEN_ENCRYPTION_KEY is configured: a configuration problem, not the account's."""


class TokenCipher:
    """Keys are checked when given; a missing key is reported when a token is needed, so
    work that needs no token (an empty tick, `status`) runs without one."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError as exc:
                raise TokenKeyError(
                    f"TOKEN_ENCRYPTION_KEY entry {position} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                ) from exc
        self._cipher = MultiFernet(fernets) if fernets else None

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        return cls(settings.token_encryption_keys)

    def _keys(self) -> MultiFernet:
        if self._cipher is None:
            raise MissingKeyError(
                "TOKEN_ENCRYPTION_KEY is not set; generate one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            )
        return self._cipher

    def encrypt(self, token: str) -> str:
        return self._keys().encrypt(token.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._keys().decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise TokenKeyError(
                "stored token cannot be decrypted with TOKEN_ENCRYPTION_KEY "
                "(wrong key, or its key was rotated out)"
            ) from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (for key rotation)."""
        try:
            return self._keys().rotate(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise TokenKeyError(
                "stored token cannot be decrypted with TOKEN_ENCRYPTION_KEY"
            ) from exc
