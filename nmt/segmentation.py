"""Where a line is cut before translation: long lines into chunks the model can take, and, on
request, a line of several sentences into its sentences. Works on SentencePiece pieces.

A line longer than the model's limit (``data.max_len`` source pieces, the longest sentence seen in
training) is translated in full, not truncated: its pieces are split into chunks of at most that
many, each cut after the last sentence-ending punctuation that fits, else after the last clause
punctuation (, ; :), else before the last word start, else at the limit. The chunks are translated
like separate sentences and their translations joined with a space; their scores add up.

With ``split_sentences`` (``decoding.split_sentences``, ``nmt translate --split-sentences``) a line
holding several sentences is cut at every sentence end the same way, whatever its length: models
trained on one sentence a line tend to stop after the first sentence of a longer line. A sentence
ends at . ! ? or … (closing quotes and brackets may follow) before a word that starts with a
capital, a digit or opening punctuation, unless the word before is an abbreviation like "Mr." or
"U.S.".
"""

from __future__ import annotations

import re

_SENTENCE_END = tuple(".!?…。！？")
_CLAUSE_END = tuple(",;:，；：")
_WORD_START = "\u2581"  # SentencePiece's word-boundary marker
_CLOSING = "\"'»”’)]"
_OPENING = "\"'«“‘([¿¡"
# "Mr.", "F." (an initial), "v." (as in Roe v. Wade), "U.S." and "e.g.": no sentence end
_ABBREVIATION = re.compile(r"^[A-Z][a-z]{0,2}\.$|^[a-z]\.$|\w\.\w")


def split_points(pieces: list[str], limit: int, sentences: bool = False) -> list[tuple[int, int]]:
    """(start, end) spans of at most ``limit`` pieces covering ``pieces``, cut at every sentence
    end too if ``sentences``; see the module doc. A ``limit`` under 1 is a ValueError: no chunk
    could hold a piece, and the cutting would never advance."""
    if limit < 1:
        raise ValueError(f"split_points: limit must be at least 1, got {limit}")
    spans = []
    for first, last in sentence_spans(pieces) if sentences else [(0, len(pieces))]:
        start = first
        while last - start > limit:
            end = _cut(pieces, start, start + limit)
            spans.append((start, end))
            start = end
        spans.append((start, last))
    return spans


def sentence_spans(pieces: list[str]) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences in a line's SentencePiece pieces."""
    spans = []
    start = 0
    word_start = 0  # index of the piece that starts the current word
    for i, piece in enumerate(pieces):
        if piece.startswith(_WORD_START):
            word_start = i
        if i + 1 < len(pieces) and _ends_sentence(pieces, word_start, i + 1):
            spans.append((start, i + 1))
            start = i + 1
    if start < len(pieces):
        spans.append((start, len(pieces)))
    return spans


def _ends_sentence(pieces: list[str], word_start: int, end: int) -> bool:
    """Whether a sentence ends before ``pieces[end]`` (the word ending there began at
    ``word_start``)."""
    if not pieces[end].startswith(_WORD_START):
        return False
    word = "".join(pieces[word_start:end]).lstrip(_WORD_START)
    if not word.rstrip(_CLOSING).endswith(_SENTENCE_END) or _ABBREVIATION.search(word):
        return False
    following = "".join(pieces[end : end + 2]).lstrip(_WORD_START)
    return bool(following) and (
        following[0].isupper() or following[0].isdigit() or following[0] in _OPENING
    )


def _cut(pieces: list[str], start: int, stop: int) -> int:
    """Where to end a chunk that starts at ``start`` and may not reach past ``stop``."""
    for ends in (_SENTENCE_END, _CLAUSE_END):
        for end in range(stop, start, -1):
            if pieces[end - 1].endswith(ends):
                return end
    for end in range(stop, start, -1):
        if pieces[end].startswith(_WORD_START):
            return end
    return stop
