"""Special tokens shared by every keras-seq vocabulary.

Ids 0-3 are the same in all our tokenizers (and match keras-hub's
`compute_sentence_piece_proto`, which fixes them): `<pad>`=0, `<unk>`=1,
`<s>`=2 (begin of sequence, the decoder start token), `</s>`=3 (end of
sequence). Vocabularies trained here also hold `<mask>`, `<cls>`, `<sep>`
(BERT) and `NUM_SENTINELS` T5 sentinels `<extra_id_i>`: right after the
basic four for character, byte and WordPiece vocabularies, appended after the
pieces for SentencePiece.
"""

PAD = "<pad>"
UNK = "<unk>"
BOS = "<s>"
EOS = "</s>"
MASK = "<mask>"
CLS = "<cls>"
SEP = "<sep>"
NUM_SENTINELS = 16

BASIC_SPECIALS = (PAD, UNK, BOS, EOS)
SENTINELS = tuple(f"<extra_id_{i}>" for i in range(NUM_SENTINELS))
EXTRA_SPECIALS = (MASK, CLS, SEP) + SENTINELS
ALL_SPECIALS = BASIC_SPECIALS + EXTRA_SPECIALS


def char_vocabulary(chars, specials=BASIC_SPECIALS):
    """Returns `specials` followed by the distinct `chars`, sorted."""
    return list(specials) + sorted(set(chars) - set(specials))
