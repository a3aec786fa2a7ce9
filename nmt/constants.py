"""Names fixed by the model directory's format and the tokenizer's vocabulary, in one place.

A model directory holds::

    config.yaml         the resolved configuration
    spm.model           the SentencePiece model (spm.src.model + spm.tgt.model when not joint)
    model.pt            the weights of the best validation (what `nmt translate` loads)
    checkpoints/        step_N.pt: full training states for --resume
    train_log.jsonl     one JSON object per log line and per validation
    .lock               held by the training run that writes there (nmt.lock)
"""

from __future__ import annotations

# special ids: every SentencePiece model we train reserves these first four ids
PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3

CONFIG_FILE = "config.yaml"
JOINT_SPM_FILE = "spm.model"
SRC_SPM_FILE = "spm.src.model"
TGT_SPM_FILE = "spm.tgt.model"
WEIGHTS_FILE = "model.pt"
CHECKPOINT_DIR = "checkpoints"
TRAIN_LOG_FILE = "train_log.jsonl"
LOCK_FILE = ".lock"
