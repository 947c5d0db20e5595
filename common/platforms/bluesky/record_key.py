"""The record key of a post's Bluesky record, derived from the post id.

`app.bsky.feed.post` records are keyed by a TID: 13 characters of base32-sortable encoding
of a 64-bit integer (top bit 0, then 53 bits of microseconds since the epoch and 10 bits of
clock id). Deriving it from the ObjectId (its creation second, and the 64 bits after it for
the sub-second part and the clock id) gives every post one key for its whole life: a repeated
create of the same post is refused by the repository instead of making a second post.
"""

from __future__ import annotations

from bson import ObjectId

_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_LENGTH = 13
_MICROS = 1_000_000
_CLOCK_IDS = 1024


def record_key(post_id: ObjectId) -> str:
    raw = post_id.binary
    seconds = int.from_bytes(raw[:4], "big")
    rest = int.from_bytes(raw[4:], "big")  # the ObjectId's random and counter bytes
    micros = seconds * _MICROS + rest % _MICROS
    clock_id = (rest // _MICROS) % _CLOCK_IDS
    return _encode((micros << 10) | clock_id)


def _encode(value: int) -> str:
    chars = []
    for _ in range(_TID_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
