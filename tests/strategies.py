"""Hypothesis strategies: random mixes of segments of every modality, built like the modality modules do."""

import torch
from hypothesis import strategies as st

import mmtok
from mmtok import Modality, Segment, grid_positions, sequential_positions

FEATURE_DIM = {Modality.IMAGE: 12, Modality.VIDEO: 12, Modality.AUDIO: 8}


def _block(ids: list[int], inner: torch.Tensor, inner_pos: torch.Tensor, close: int) -> tuple:
    """[open] + inner + [close] with positions: open at 0, inner shifted by 1, close one past the inner max."""
    pos = torch.cat([torch.zeros(3, 1, dtype=torch.int64), inner_pos + 1,
                     torch.full((3, 1), int(inner_pos.max()) + 2 if inner_pos.numel() else 1, dtype=torch.int64)], 1)
    return torch.cat([torch.tensor(ids[:1]), inner, torch.tensor([close])]), pos


@st.composite
def segments(draw, vocab: mmtok.Vocab):
    kind = draw(st.sampled_from(["text", "control", "image", "video", "audio", "codes"]))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    meta = draw(st.fixed_dictionaries({}, optional={"source": st.text(max_size=8)}))
    if kind == "text":
        ids = torch.tensor(draw(st.lists(st.integers(0, vocab.text_size - 1), max_size=30)), dtype=torch.int64)
        return Segment(Modality.TEXT, ids, sequential_positions(len(ids)), meta=meta)
    if kind == "control":
        ids = torch.tensor([draw(st.sampled_from([vocab.bos_id, vocab.eos_id, vocab.pad_id]))])
        return Segment(Modality.CONTROL, ids, sequential_positions(1), meta=meta)
    if kind == "codes":
        r, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        codes = torch.randint(vocab.code_offset, vocab.size, (r * c,), generator=g)
        ids, pos = _block([vocab.special("<start_of_image_codes>")], codes, grid_positions(1, r, c),
                          vocab.special("<end_of_image_codes>"))
        return Segment(Modality.IMAGE_CODES, ids, pos, meta=meta)
    if kind == "audio":
        n = draw(st.integers(0, 12))
        ph = torch.full((n,), vocab.placeholder(Modality.AUDIO))
        ids, pos = _block([vocab.special("<start_of_audio>")], ph, sequential_positions(n),
                          vocab.special("<end_of_audio>"))
        return Segment(Modality.AUDIO, ids, pos, torch.randn(n, FEATURE_DIM[Modality.AUDIO], generator=g), meta)
    if kind == "image":
        r, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        ph = torch.full((r * c,), vocab.placeholder(Modality.IMAGE))
        ids, pos = _block([vocab.special("<start_of_image>")], ph, grid_positions(1, r, c),
                          vocab.special("<end_of_image>"))
        return Segment(Modality.IMAGE, ids, pos, torch.randn(r * c, FEATURE_DIM[Modality.IMAGE], generator=g), meta)
    # video: frames of r x c patches, each framed by <start_of_frame> .. <end_of_frame>
    f, r, c = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if draw(st.booleans()):  # a clip with its sound: an audio run after each frame
        return _clip_with_sound(vocab, f, r, c, [draw(st.integers(0, 4)) for _ in range(f)], g, meta)
    ph = vocab.placeholder(Modality.VIDEO)
    ids, pos = [], []
    for t in range(f):
        ids += [vocab.special("<start_of_frame>")] + [ph] * (r * c) + [vocab.special("<end_of_frame>")]
        frame = grid_positions(1, r, c)
        frame[0] += t
        pos.append(torch.cat([torch.full((3, 1), t), frame, torch.full((3, 1), t)], 1))
    inner = torch.tensor(ids)
    ids, pos3d = _block([vocab.special("<start_of_video>")], inner, torch.cat(pos, 1), vocab.special("<end_of_video>"))
    return Segment(Modality.VIDEO, ids, pos3d, torch.randn(f * r * c, FEATURE_DIM[Modality.VIDEO], generator=g), meta)


def _clip_with_sound(vocab, f: int, r: int, c: int, slices: list[int], g, meta) -> Segment:
    """<start_of_video>, per frame its block then <start_of_audio> k placeholders <end_of_audio>, <end_of_video>;
    each part placed one past the largest position before it (as pack places segments)."""
    ids, pos, top = [torch.tensor([vocab.special("<start_of_video>")])], [torch.zeros(3, 1, dtype=torch.int64)], 1
    for k in slices:
        frame = _block([vocab.special("<start_of_frame>")], torch.full((r * c,), vocab.placeholder(Modality.VIDEO)),
                       grid_positions(1, r, c), vocab.special("<end_of_frame>"))
        sound = (torch.tensor([vocab.special("<start_of_audio>")] + [vocab.placeholder(Modality.AUDIO)] * k
                              + [vocab.special("<end_of_audio>")]), sequential_positions(k + 2))
        for part_ids, part_pos in (frame, sound):
            ids.append(part_ids)
            pos.append(part_pos + top)
            top += int(part_pos.max()) + 1
    ids.append(torch.tensor([vocab.special("<end_of_video>")]))
    pos.append(torch.full((3, 1), top, dtype=torch.int64))
    return Segment(Modality.VIDEO, torch.cat(ids), torch.cat(pos, 1),
                   torch.randn(f * r * c, FEATURE_DIM[Modality.VIDEO], generator=g), meta,
                   torch.randn(sum(slices), FEATURE_DIM[Modality.AUDIO], generator=g))


def segment_lists(vocab, min_size=0, max_size=8):
    return st.lists(segments(vocab), min_size=min_size, max_size=max_size)
