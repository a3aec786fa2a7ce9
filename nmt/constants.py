"""Names fixed by the vocabulary and by the model directory's format, in one place.

The special ids are reserved in every SentencePiece model we train, so the model, the batches
and the search agree on them without asking the tokenizer. The file names are those of a model
directory; :mod:`nmt.model_dir` describes what each holds.
"""

from __future__ import annotations

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3

CONFIG_FILE = "config.yaml"
JOINT_SPM_FILE = "spm.model"
SRC_SPM_FILE = "spm.src.model"
TGT_SPM_FILE = "spm.tgt.model"
WEIGHTS_FILE = "model.pt"
AVERAGED_FILE = "averaged.pt"
SHORTLIST_FILE = "shortlist.pt"
CHECKPOINT_DIR = "checkpoints"
TRAIN_LOG_FILE = "train_log.jsonl"
SCORES_DIR = "scores"
CARD_FILE = "README.md"
LOCK_FILE = ".lock"
