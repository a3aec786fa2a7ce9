"""The recurrent encoder-decoder: ``encoder.py``, ``attention.py``, ``decoder.py``, ``seq2seq.py``."""

from nmt.model.decoder import DecoderState, EncoderOutput
from nmt.model.seq2seq import Seq2Seq, build_model

__all__ = ["DecoderState", "EncoderOutput", "Seq2Seq", "build_model"]
