"""The recurrent encoder-decoder: ``encoder.py``, ``attention.py``, ``decoder.py``, ``seq2seq.py``.

Beside them: ``cells.py`` (GRU/LSTM/RNN choice), ``dropout.py``, ``loss.py`` (fused label-smoothed
cross entropy)."""

from nmt.model.decoder import DecoderState, EncoderOutput
from nmt.model.seq2seq import Seq2Seq, build_model

__all__ = ["DecoderState", "EncoderOutput", "Seq2Seq", "build_model"]
